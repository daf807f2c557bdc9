/**
 * The part of playwright-core's API the webview harness uses, declared here so that type checking
 * does not depend on test/e2e/node_modules being installed (it is a separate package, set up by
 * test/e2e/setup.sh). The real module is loaded at run time by harness.ts.
 */

export interface Locator {
  first(): Locator;
  click(): Promise<void>;
  fill(value: string): Promise<void>;
  press(key: string): Promise<void>;
  focus(): Promise<void>;
  inputValue(): Promise<string>;
  textContent(): Promise<string | null>;
  allTextContents(): Promise<string[]>;
  count(): Promise<number>;
  boundingBox(): Promise<{ x: number; y: number; width: number; height: number } | null>;
}

export interface Page {
  goto(url: string, opts?: { waitUntil?: 'load' | 'domcontentloaded' }): Promise<unknown>;
  evaluate(expression: string): Promise<unknown>;
  locator(selector: string, opts?: { hasText?: string }): Locator;
  waitForSelector(selector: string): Promise<unknown>;
  waitForTimeout(ms: number): Promise<void>;
  screenshot(opts: { path: string }): Promise<unknown>;
  on(event: 'pageerror', fn: (e: Error) => void): void;
  on(event: 'console', fn: (m: { type(): string; text(): string }) => void): void;
  close(): Promise<void>;
  readonly mouse: {
    move(x: number, y: number): Promise<void>;
    click(x: number, y: number): Promise<void>;
    wheel(dx: number, dy: number): Promise<void>;
  };
  readonly keyboard: { press(key: string): Promise<void>; down(key: string): Promise<void>; up(key: string): Promise<void> };
}

export interface Browser {
  newPage(opts?: { viewport?: { width: number; height: number } }): Promise<Page>;
  close(): Promise<void>;
}

export interface PlaywrightCore {
  readonly chromium: {
    launch(opts: { executablePath: string; headless: boolean; args: string[]; timeout: number }): Promise<Browser>;
  };
}
