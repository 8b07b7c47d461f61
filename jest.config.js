/** Jest runs TypeScript through SWC (no type-check here: `tsc --noEmit` is its own gate). */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: { "^.+\\.ts$": ["@swc/jest", { jsc: { target: "es2022", parser: { syntax: "typescript" } }, module: { type: "commonjs" } }] },
  testTimeout: 120000,
  // Removes namespaces, links, cgroups and labs that a crashed test process left (test/support/test-resources.ts).
  globalSetup: "<rootDir>/test/support/global-setup.ts",
  // Tests that load BPF programs or build network namespaces each use unique
  // names and their own cgroups, so two workers can run side by side.
  maxWorkers: 2,
};
