/** A lab or benchmark failure whose message says what failed, where, and what to do. */
export class LabError extends Error {}
