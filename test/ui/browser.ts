// Debian's Chromium, headless, driven by playwright-core, with a fresh profile
// and no background traffic (the machine has no network beyond loopback).
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { chromium, type BrowserContext } from "playwright-core";

export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(viewport = { width: 1600, height: 1000 }): Promise<TestBrowser> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "fl-ui-chromium-"));
  // A persistent context is how playwright passes --user-data-dir.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport,
    acceptDownloads: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    close: async () => {
      try {
        await context.close();
      } finally {
        fs.rmSync(profile, { recursive: true, force: true });
      }
    },
  };
}
