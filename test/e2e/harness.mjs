#!/usr/bin/env node
// Real-VS-Code test harness: code-server 4.100.3 (the Code-OSS workbench, its server and a Node
// extension host with the real `vscode` API) driven by playwright-core and Debian's chromium.
//
// As a library it exports startServer, launchBrowser, openWorkbench, runExtensionTests and a few
// workbench helpers for UI specs. As a command line it runs one extension-host test suite:
//
//   node test/e2e/harness.mjs host --extensionDevelopmentPath=DIR --extensionTestsPath=FILE [workspace]
//
// The same file also stands in for the `code` executable of @vscode/test-electron's runTests
// (vscodeExecutablePath): when its first argument is a `--flag`, it behaves like `host`, accepts the
// flags that runTests passes and ignores the Electron-only ones. See README.md in this folder.
//
// Every process it starts binds to or talks to 127.0.0.1 only, works in throwaway folders, and is
// killed with its whole process group when the run ends, fails or is interrupted.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { format } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const codeServerEntry = path.join(here, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
const chromiumPath = process.env.CIRCUITSCOPE_E2E_CHROMIUM || '/usr/bin/chromium';

/** Node modules of the harness (mocha, playwright-core); suites outside this folder can require from here. */
export const harnessNodeModules = path.join(here, 'node_modules');

/** Default limits in milliseconds; every wait in this file is bounded by one of them. */
export const timeouts = {
  healthz: 30_000,
  installExtension: 60_000,
  workbench: 60_000,
  suite: Number(process.env.CIRCUITSCOPE_E2E_SUITE_TIMEOUT_MS) || 300_000,
  stop: 5_000,
};

/** Settings every throwaway profile starts with; callers' settings are merged over them. */
export const defaultSettings = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'security.workspace.trust.enabled': false,
  'git.enabled': false,
  'npm.autoDetect': 'off',
  // Port auto-forwarding makes the server list every process's sockets every few seconds.
  'remote.autoForwardPorts': false,
};

// Flags Chromium needs in a headless container, plus the ones that keep it off the network. The
// host-resolver rule makes every name except loopback unresolvable, so nothing can leave the machine.
const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
  '--disable-features=Translate,MediaRouter,OptimizationHints',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost',
];

const log = (...args) => process.stderr.write(`[e2e] ${format(...args)}\n`);
const verbose = process.env.CIRCUITSCOPE_E2E_VERBOSE === '1';
const keepTemp = process.env.CIRCUITSCOPE_E2E_KEEP === '1';

// Process groups and folders that must not outlive this process, even when it crashes or is
// interrupted. The exit handler is synchronous, so it can only send SIGKILL and remove folders.
const liveGroups = new Set();
const liveDirs = new Set();
process.on('exit', () => {
  for (const pgid of liveGroups) killGroup(pgid, 'SIGKILL');
  if (!keepTemp) for (const dir of liveDirs) fs.rmSync(dir, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    log(`received ${signal}, stopping`);
    // The 'exit' handler above does the cleanup; 128 + signal number is the shell's convention.
    process.exit(128 + os.constants.signals[signal]);
  });
}

function killGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    // The group is already gone.
    return false;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Races a promise against a timer; the error names what was being waited for. */
export async function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Creates a throwaway folder tree: one root with tmp, XDG and profile folders under it. remove()
 * deletes it unless CIRCUITSCOPE_E2E_KEEP=1, which is useful to read the logs of a failed run.
 */
export function makeThrowawayDirs(prefix) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `circuitscope-e2e-${prefix}-`));
  liveDirs.add(root);
  const dirs = { root };
  for (const name of ['tmp', 'home', 'xdg-config', 'xdg-data', 'xdg-cache', 'xdg-state', 'xdg-runtime']) {
    dirs[name] = path.join(root, name);
    fs.mkdirSync(dirs[name], { recursive: true, mode: 0o700 });
  }
  dirs.remove = () => {
    liveDirs.delete(root);
    if (keepTemp) log(`kept ${root}`);
    else fs.rmSync(root, { recursive: true, force: true });
  };
  return dirs;
}

/** The environment of a child process whose temporary and XDG folders live in `dirs`. */
function isolatedEnv(dirs, { home = false, extra = {} } = {}) {
  const env = { ...process.env };
  // These variables belong to a VS Code or code-server that may be running this harness; inherited,
  // VSCODE_IPC_HOOK_CLI would make code-server hand its arguments to that instance instead of starting.
  for (const key of Object.keys(env)) {
    if (/^VSCODE_(IPC_HOOK|PID|CWD|NLS_CONFIG|ESM_ENTRYPOINT|AMD_ENTRYPOINT|HANDLES_|CODE_CACHE|CRASH_REPORTER|INJECTION|GIT_|PROXY_URI)/.test(key)) delete env[key];
  }
  delete env.ELECTRON_RUN_AS_NODE;
  Object.assign(env, {
    TMPDIR: dirs.tmp,
    XDG_CONFIG_HOME: dirs['xdg-config'],
    XDG_DATA_HOME: dirs['xdg-data'],
    XDG_CACHE_HOME: dirs['xdg-cache'],
    XDG_STATE_HOME: dirs['xdg-state'],
    XDG_RUNTIME_DIR: dirs['xdg-runtime'],
    ORT_DISABLE_TELEMETRY: '1',
    // Anything that honours proxy variables is sent to a closed loopback port, except loopback itself.
    HTTP_PROXY: 'http://127.0.0.1:9',
    HTTPS_PROXY: 'http://127.0.0.1:9',
    http_proxy: 'http://127.0.0.1:9',
    https_proxy: 'http://127.0.0.1:9',
    NO_PROXY: '127.0.0.1,localhost',
    no_proxy: '127.0.0.1,localhost',
    ...extra,
  });
  if (home) env.HOME = dirs.home;
  return env;
}

/** Asks the kernel for a free loopback port. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function httpGetStatus(url, ms) {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: ms }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** Spawns a process in its own group, collecting its output; resolves with the exit code. */
function runBounded(cmd, args, { env, ms, what }) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    liveGroups.add(child.pid);
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      killGroup(child.pid, 'SIGKILL');
      reject(new Error(`timed out after ${ms} ms: ${what}\n${output}`));
    }, ms);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      liveGroups.delete(child.pid);
      resolve({ code, output });
    });
  });
}

function toAbsolute(p) {
  return path.resolve(p);
}

/**
 * Starts code-server on 127.0.0.1 with a throwaway profile and waits for /healthz.
 *
 * options.workspaceDir: the folder the server opens by default (created when missing).
 * options.extensionDir: an unpackaged extension; openWorkbench() loads it as extensionDevelopmentPath.
 * options.vsixPath: a packaged extension, installed into the throwaway extensions folder before start.
 * options.settings: user settings, merged over defaultSettings.
 * options.env: extra environment for the server and so for the extension host.
 * options.workspaceTrust: true to run with workspace trust on (Restricted Mode until the user trusts
 *   the folder); by default trust is off and every folder is trusted.
 *
 * Returns { port, authority, url, dirs, workspaceDir, extensionDir, remoteUri(p), workbenchUrl(o), stop() }.
 */
export async function startServer({ extensionDir, vsixPath, workspaceDir, settings = {}, env: extraEnv = {}, workspaceTrust = false } = {}) {
  if (!fs.existsSync(codeServerEntry)) {
    throw new Error(`code-server is not installed; run: bash ${path.relative(process.cwd(), path.join(here, 'setup.sh'))}`);
  }
  const dirs = makeThrowawayDirs('server');
  const userDataDir = path.join(dirs.root, 'user-data');
  const extensionsDir = path.join(dirs.root, 'extensions');
  fs.mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
  fs.mkdirSync(extensionsDir, { recursive: true });
  fs.writeFileSync(
    path.join(userDataDir, 'User', 'settings.json'),
    JSON.stringify({ ...defaultSettings, ...(workspaceTrust ? { 'security.workspace.trust.enabled': true } : {}), ...settings }, null, 2),
  );
  if (workspaceDir) {
    workspaceDir = toAbsolute(workspaceDir);
    fs.mkdirSync(workspaceDir, { recursive: true });
  }

  const env = isolatedEnv(dirs, {
    extra: {
      // The server resolves the extension host's environment by running the user's login shell
      // unless it believes it was started from the `code` CLI; tests must not depend on ~/.bashrc.
      VSCODE_CLI: '1',
      // Extension-host suites that live outside this folder can require mocha from here.
      CIRCUITSCOPE_E2E_NODE_MODULES: harnessNodeModules,
      // An empty gallery configuration disables the extension gallery (open-vsx.org by default), so
      // neither the server nor the workbench tries to reach it.
      EXTENSIONS_GALLERY: '{}',
      ...extraEnv,
    },
  });
  const configFile = path.join(dirs.root, 'config.yaml');
  const baseArgs = [
    codeServerEntry,
    '--config', configFile,
    '--auth', 'none',
    '--user-data-dir', userDataDir,
    '--extensions-dir', extensionsDir,
    '--disable-telemetry',
    '--disable-update-check',
    ...(workspaceTrust ? [] : ['--disable-workspace-trust']),
    '--disable-getting-started-override',
  ];

  if (vsixPath) {
    fs.writeFileSync(configFile, 'auth: none\ncert: false\n');
    const started = Date.now();
    const { code, output } = await runBounded(
      process.execPath,
      [...baseArgs, '--install-extension', toAbsolute(vsixPath), '--force'],
      { env, ms: timeouts.installExtension, what: `installing ${vsixPath}` },
    );
    if (code !== 0) throw new Error(`installing ${vsixPath} failed with code ${code}:\n${output}`);
    if (verbose) log(`installed ${vsixPath} in ${Date.now() - started} ms`);
  }

  // A port can be taken between freePort() and the bind; a second attempt covers that race.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    fs.writeFileSync(configFile, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
    const args = [...baseArgs, '--bind-addr', `127.0.0.1:${port}`, '--ignore-last-opened'];
    if (workspaceDir) args.push(workspaceDir);
    const started = Date.now();
    const logFile = path.join(dirs.root, 'code-server.log');
    const logStream = fs.createWriteStream(logFile);
    const child = spawn(process.execPath, args, { env, cwd: dirs.root, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    liveGroups.add(child.pid);
    let tail = '';
    const onData = (d) => {
      logStream.write(d);
      tail = (tail + d).slice(-4000);
      if (verbose) process.stderr.write(`[code-server] ${d}`);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    let exited = null;
    child.on('exit', (code, signal) => (exited = { code, signal }));

    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + timeouts.healthz;
    let healthy = false;
    while (!exited && Date.now() < deadline) {
      if ((await httpGetStatus(`${url}/healthz`, 1000)) === 200) {
        healthy = true;
        break;
      }
      await sleep(100);
    }
    if (!healthy) {
      killGroup(child.pid, 'SIGKILL');
      liveGroups.delete(child.pid);
      logStream.end();
      if (exited && attempt < 2 && /EADDRINUSE/.test(tail)) continue;
      dirs.remove();
      throw new Error(`code-server did not become healthy (${exited ? `exited ${JSON.stringify(exited)}` : 'timeout'}):\n${tail}`);
    }
    const startMs = Date.now() - started;
    if (verbose) log(`code-server healthy on ${url} after ${startMs} ms`);

    const authority = `127.0.0.1:${port}`;
    const server = {
      port,
      authority,
      url,
      dirs,
      logFile,
      startMs,
      process: child,
      workspaceDir,
      extensionDir: extensionDir ? toAbsolute(extensionDir) : undefined,
      /** The vscode-remote URI of a path on this machine, as the workbench payload expects it. */
      remoteUri(p) {
        return `vscode-remote://${authority}${pathToFileURL(toAbsolute(p)).pathname}`;
      },
      /** The workbench URL for a folder (or none: an empty window) and extension-development payload. */
      workbenchUrl({ folder = workspaceDir, extensionDevelopmentPaths, extensionTestsPath, enableProposedApi = false } = {}) {
        const devPaths = extensionDevelopmentPaths ?? (server.extensionDir ? [server.extensionDir] : []);
        const payload = devPaths.map((p) => ['extensionDevelopmentPath', server.remoteUri(p)]);
        if (extensionTestsPath) payload.push(['extensionTestsPath', server.remoteUri(extensionTestsPath)]);
        if (enableProposedApi) payload.push(['enableProposedApi', '']);
        const query = new URLSearchParams();
        if (folder) {
          const abs = toAbsolute(folder);
          if (abs.endsWith('.code-workspace')) query.set('workspace', abs);
          else query.set('folder', abs);
        } else {
          query.set('ew', 'true');
        }
        if (payload.length) query.set('payload', JSON.stringify(payload));
        return `${url}/?${query}`;
      },
      /** Stops the server and everything it started (extension host, pty host, watchers). */
      async stop() {
        // SIGTERM lets code-server shut its children down; whatever is left once the main process
        // has exited (or after the grace period) is killed. Exited children of a dead parent can stay
        // in the group as zombies until init reaps them, so the group itself is not waited for.
        if (exited === null && killGroup(child.pid, 'SIGTERM')) {
          await withTimeout(new Promise((resolve) => child.once('exit', resolve)), timeouts.stop, 'code-server to exit').catch(
            (e) => log(e.message),
          );
        }
        killGroup(child.pid, 'SIGKILL');
        liveGroups.delete(child.pid);
        await new Promise((resolve) => logStream.end(resolve));
        dirs.remove();
      },
    };
    return server;
  }
}

/**
 * Launches Debian's chromium through playwright-core with a fresh profile in a throwaway folder.
 * Returns { context, page, close() }; the context is persistent only for the life of this call.
 */
export async function launchBrowser({ headless = true, viewport = { width: 1400, height: 900 }, args = [] } = {}) {
  const { chromium } = await import('playwright-core');
  const dirs = makeThrowawayDirs('chromium');
  const context = await withTimeout(
    chromium.launchPersistentContext(path.join(dirs.root, 'profile'), {
      executablePath: chromiumPath,
      headless,
      viewport,
      args: [...chromiumArgs, ...args],
      env: isolatedEnv(dirs, { home: true }),
      timeout: 30_000,
    }),
    45_000,
    'chromium to start',
  );
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await withTimeout(context.close(), 15_000, 'chromium to close').catch((e) => log(String(e)));
      dirs.remove();
    },
  };
}

/** Loads the workbench in `page` and waits until it has rendered. */
export async function openWorkbench(page, server, urlOptions = {}, { timeoutMs = timeouts.workbench } = {}) {
  const started = Date.now();
  await page.goto(server.workbenchUrl(urlOptions), { timeout: timeoutMs, waitUntil: 'domcontentloaded' });
  await page.locator('.monaco-workbench').first().waitFor({ state: 'visible', timeout: timeoutMs });
  return Date.now() - started;
}

/**
 * Runs a command from the command palette by its title. The palette is reopened until the row
 * appears, because it can open before the extension's contributions are registered.
 */
export async function runCommand(page, title, { timeoutMs = 30_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  const input = page.locator('.quick-input-widget input.input');
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  for (;;) {
    await page.keyboard.press('Escape');
    await page.keyboard.press('F1');
    await input.waitFor({ state: 'visible', timeout: 5_000 });
    await input.fill(`>${title}`);
    try {
      await row.waitFor({ state: 'visible', timeout: 2_000 });
      break;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`command "${title}" did not appear in the palette within ${timeoutMs} ms`);
    }
  }
  await page.keyboard.press('Enter');
}

/** Waits for a notification toast whose text contains `text`, and returns its full text. */
export async function waitForToast(page, text, { timeoutMs = 15_000 } = {}) {
  const toast = page.locator('.notifications-toasts .notification-toast', { hasText: text }).first();
  await toast.waitFor({ state: 'visible', timeout: timeoutMs });
  return (await toast.innerText()).trim();
}

// Informational lines the workbench itself logs through codeAutomationLog while it starts. The
// extension host's console output arrives through the same function, so only these known lines are
// held back (shown with CIRCUITSCOPE_E2E_VERBOSE=1); anything else, workbench errors included, is kept.
const workbenchNoise =
  /^(\[driver\]|\[Service Worker\]|Resolving connection token|Resolved connection token|Creating a socket|Updating additional builtin extensions cache|Ignoring fetching additional builtin extensions from gallery|ChatSessionStore:|Started local extension host|Extension host agent|Settings Sync|Ignoring the error while validating workspace folder|Creation of workbench contribution '[^']*' took \d+ms)/;

/** The closing line CI reads; see mochaRunner.cjs. */
export const summaryLine = /^\d+ passed, \d+ failed$/;

/**
 * Runs an extension-host test suite in the real workbench and resolves with its exit code (0 when
 * the suite's run() resolved, 1 when it rejected, 124 on timeout).
 *
 * The suite module (extensionTestsPath) is required by the server's extension host, which calls its
 * run(); its console.log/info output is forwarded to `out` (process.stdout by default) and its
 * console.warn/error output to `err`, so the suite's closing `N passed, N failed` line stays the last
 * line of stdout. When the suite does not print that line itself (a plain mocha runner such as
 * @vscode/test-cli's, or a suite that did not load, crashed or timed out), the harness prints it from
 * mocha's `N passing` / `N failing` lines, counting a bad exit with no failing test as one failure.
 */
export async function runExtensionTests({
  extensionDevelopmentPath,
  extensionTestsPath,
  workspace,
  settings,
  env,
  enableProposedApi = false,
  timeoutMs = timeouts.suite,
  out = process.stdout,
  err = process.stderr,
}) {
  const devPaths = [extensionDevelopmentPath].flat().filter(Boolean).map(toAbsolute);
  if (!devPaths.length) throw new Error('extensionDevelopmentPath is required');
  if (!extensionTestsPath) throw new Error('extensionTestsPath is required');
  for (const p of [...devPaths, extensionTestsPath]) {
    if (!fs.existsSync(p)) throw new Error(`no such file or folder: ${p}`);
  }
  const timings = {};
  let t = Date.now();
  const server = await startServer({ workspaceDir: workspace, settings, env });
  timings.serverMs = Date.now() - t;
  let browser;
  try {
    t = Date.now();
    browser = await launchBrowser();
    timings.browserMs = Date.now() - t;
    const { page } = browser;

    let settle;
    const exited = new Promise((resolve) => (settle = resolve));
    let sawSummary = false;
    const mochaCounts = { passing: 0, failing: 0, seen: false };
    await page.exposeFunction('codeAutomationLog', (type, args) => {
      const text = Array.isArray(args) ? format(...args) : typeof args === 'string' ? args : format(args);
      if (!verbose && workbenchNoise.test(text)) return;
      // After the closing line everything goes to stderr, so that line stays the last one on stdout.
      const toErr = type === 'error' || type === 'warn' || sawSummary;
      if (!toErr && summaryLine.test(text.trim())) sawSummary = true;
      const counts = /^\s*(\d+) (passing|failing)\b/.exec(text);
      if (counts) {
        mochaCounts[counts[2]] = Number(counts[1]);
        mochaCounts.seen = true;
      }
      (toErr ? err : out).write(text.endsWith('\n') ? text : `${text}\n`);
    });
    await page.exposeFunction('codeAutomationExit', (code) => settle(typeof code === 'number' ? code : 1));
    page.on('crash', () => settle(1));
    if (verbose) page.on('console', (m) => log(`[page ${m.type()}] ${m.text()}`));

    t = Date.now();
    timings.workbenchMs = await openWorkbench(page, server, {
      folder: workspace,
      extensionDevelopmentPaths: devPaths,
      extensionTestsPath: toAbsolute(extensionTestsPath),
      enableProposedApi,
    });
    const code = await withTimeout(exited, timeoutMs, `the extension-host suite ${extensionTestsPath}`).catch((e) => {
      log(e.message);
      return 124;
    });
    timings.suiteMs = Date.now() - t;
    if (!sawSummary && (code !== 0 || mochaCounts.seen)) {
      const failed = code !== 0 ? Math.max(mochaCounts.failing, 1) : mochaCounts.failing;
      out.write(`${mochaCounts.passing} passed, ${failed} failed\n`);
    }
    if (verbose || process.env.CIRCUITSCOPE_E2E_TIMINGS === '1') {
      log(`timings: server ${timings.serverMs} ms, chromium ${timings.browserMs} ms, workbench ${timings.workbenchMs} ms, workbench + suite ${timings.suiteMs} ms`);
    }
    if (code !== 0 && !keepTemp) log(`suite exited with code ${code}; rerun with CIRCUITSCOPE_E2E_KEEP=1 to keep the code-server log`);
    if (code !== 0 && keepTemp) log(`suite exited with code ${code}; code-server log: ${server.logFile}`);
    return code;
  } finally {
    await browser?.close();
    await server.stop();
  }
}

// Flags of the `code` executable that take a separate value (`--flag value`); any other unknown
// flag is treated as a switch and ignored. --enable-proposed-api is left out on purpose: its value is
// optional, and a workspace path after it must stay a workspace.
const codeFlagsWithValue = new Set([
  'extensionDevelopmentPath', 'extensionTestsPath', 'user-data-dir', 'extensions-dir', 'locale', 'log',
  'logsPath', 'crash-reporter-directory', 'install-extension', 'profile', 'folder-uri',
  'file-uri', 'inspect-extensions', 'inspect-brk-extensions', 'remote', 'sync', 'category',
]);

/** Parses `code`-style arguments into { flags: Map<name, string[]>, positionals: string[] }. */
export function parseCodeArgs(argv) {
  const flags = new Map();
  const positionals = [];
  const add = (name, value) => flags.set(name, [...(flags.get(name) ?? []), value]);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    const m = /^--([^=]+)(?:=(.*))?$/s.exec(arg);
    if (!m) {
      positionals.push(arg);
    } else if (m[2] !== undefined) {
      add(m[1], m[2]);
    } else if (codeFlagsWithValue.has(m[1]) && i + 1 < argv.length && !argv[i + 1].startsWith('--')) {
      add(m[1], argv[++i]);
    } else {
      add(m[1], 'true');
    }
  }
  return { flags, positionals };
}

async function hostCli(argv) {
  const { flags, positionals } = parseCodeArgs(argv);
  if (flags.has('version') || flags.has('v')) {
    // Tools that probe the executable get the VS Code version that code-server 4.100.3 embeds.
    process.stdout.write('1.100.3\n\nx64\n');
    return 0;
  }
  const devPaths = flags.get('extensionDevelopmentPath') ?? [];
  const testsPath = flags.get('extensionTestsPath')?.at(-1);
  if (!devPaths.length || !testsPath) {
    process.stderr.write(
      'usage: node test/e2e/harness.mjs host --extensionDevelopmentPath=DIR --extensionTestsPath=FILE [workspace]\n',
    );
    return 2;
  }
  const handled = new Set(['extensionDevelopmentPath', 'extensionTestsPath', 'enable-proposed-api']);
  const ignored = [...flags.keys()].filter((k) => !handled.has(k));
  if (ignored.length && verbose) log(`ignoring code flags: ${ignored.map((k) => `--${k}`).join(' ')}`);
  if (positionals.length > 1) log(`only the first workspace argument is opened: ${positionals[0]}`);
  return runExtensionTests({
    extensionDevelopmentPath: devPaths,
    extensionTestsPath: testsPath,
    workspace: positionals[0],
    enableProposedApi: flags.has('enable-proposed-api'),
  });
}

const invokedDirectly = process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  // `host` is the documented form; without it the arguments are read as `code`'s, which is how
  // @vscode/test-electron calls its vscodeExecutablePath (launchArgs first, then the test flags).
  const argv = process.argv.slice(2);
  const run = hostCli(argv[0] === 'host' ? argv.slice(1) : argv);
  run.then(
    (code) => process.exit(code),
    (error) => {
      log(error?.stack ?? String(error));
      process.exit(1);
    },
  );
}
