// Errors a user can act on: the message already says what failed, where, and
// what to do, so the command prints it as one line and exits non-zero.

/** Bad flags or flag values: exit code 2, like other command-line tools. */
export class UsageError extends Error {
  readonly exitCode = 2;
}

/** A failure at run time (server unreachable, TLS mismatch, unreadable file). */
export class CommandError extends Error {
  readonly exitCode = 1;
}

/** Prints a UsageError or CommandError as one line and returns its exit code; rethrows anything else. */
export function reportError(command: string, err: unknown): number {
  if (err instanceof UsageError || err instanceof CommandError) {
    process.stderr.write(`flowlens ${command}: ${err.message}\n`);
    return err.exitCode;
  }
  throw err;
}
