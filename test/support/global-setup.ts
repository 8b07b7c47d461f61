/** Before any suite: remove what test processes that died before their cleanup left in the kernel. */
import { sweepStaleResources } from "./test-resources";

export default function globalSetup(): void {
  const removed = sweepStaleResources();
  if (removed.length > 0) console.log(`\nremoved what earlier test processes left behind:\n  ${removed.join("\n  ")}`);
}
