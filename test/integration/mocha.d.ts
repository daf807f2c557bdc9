// The BDD globals mocha provides inside the extension host (mocha lives in test/e2e's own package).
declare function describe(name: string, fn: () => void): void;
declare function it(name: string, fn: (this: { timeout(ms: number): void }) => Promise<void> | void): void;
