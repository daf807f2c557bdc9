// Workbench helpers shared by the UI specs (ui.spec.mjs, view.spec.mjs): finding tree rows, context
// menus, quick picks, the circuit webview's frame (and any frame holding a selector), what a graph
// shows, save dialogs, and checks of exported files. Every wait is bounded by one of `limits`.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Limits in milliseconds; every wait below is bounded by one of these. */
export const limits = {
  step: 90_000, // one check, whatever it waits for
  ui: 15_000, // a workbench element to appear
  engine: 60_000, // discovery or comparison of the tiny checkpoints, until the view shows
  file: 20_000, // an exported file to be written
};

/** The workbench's built-in colour themes the specs run in. */
export const allThemes = { light: 'Default Light Modern', dark: 'Default Dark Modern', hc: 'Default High Contrast' };

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// ---- workbench helpers ----

/** Throws with the toast's text when the extension reported an error. */
export async function failOnErrorToast(page) {
  const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'Circuitscope:' }).first();
  if ((await toast.count()) === 0) return;
  const text = (await toast.innerText().catch(() => '')).trim();
  // Progress toasts are titled "Discovering…"/"Comparing…"; errors start with "Circuitscope:".
  if (/Circuitscope: .*(failed|cannot|error)/i.test(text)) throw new Error(`the extension reported: ${text}`);
}

/** A row of a tree or list whose label (not description) is exactly `label`. */
export function rowByLabel(scope, label) {
  // The inner locator of `has` is matched inside the row, so it is built from the page, not from `scope`.
  return scope.locator('.monaco-list-row').filter({ has: scope.page().locator('.label-name', { hasText: new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }) }).first();
}

/** Expands a collapsed tree row by clicking it (folders and tree items toggle on click). */
export async function expand(row) {
  await row.waitFor({ state: 'visible', timeout: limits.ui });
  if ((await row.getAttribute('aria-expanded')) !== 'true') await row.click();
  const deadline = Date.now() + limits.ui;
  while ((await row.getAttribute('aria-expanded')) !== 'true') {
    if (Date.now() > deadline) throw new Error(`row ${await row.getAttribute('aria-label')} did not expand`);
    await sleep(100);
  }
}

/**
 * Right-clicks `row` and clicks the context-menu item `item`. The menu is reopened until the item is
 * there, because the extension adds its items only after its workspace scan has set a context key.
 */
export async function contextMenu(page, row, item, { timeoutMs = 30_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  const entry = page.locator('.monaco-menu .action-item .action-label', { hasText: new RegExp(`^${item}$`) }).first();
  for (;;) {
    await row.click({ button: 'right' });
    try {
      await entry.waitFor({ state: 'visible', timeout: 1_500 });
      break;
    } catch {
      await page.keyboard.press('Escape');
      if (Date.now() > deadline) throw new Error(`context menu item '${item}' did not appear within ${timeoutMs} ms`);
      await sleep(500);
    }
  }
  // VS Code's menu can drop a click that arrives while it is still settling; the item takes focus on
  // hover, so Enter is the fallback when the menu is still open afterwards.
  await entry.hover();
  await entry.click();
  const menu = page.locator('.monaco-menu').first();
  try {
    await menu.waitFor({ state: 'hidden', timeout: 1_000 });
  } catch {
    await page.keyboard.press('Enter');
    await menu.waitFor({ state: 'hidden', timeout: 2_000 });
  }
}

/** Picks the QuickPick row with label `label`. */
export async function pickQuick(page, label, { timeoutMs = limits.ui } = {}) {
  const row = page.locator('.quick-input-widget .quick-input-list .monaco-list-row').filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${label}$`) }) }).first();
  await row.waitFor({ state: 'visible', timeout: timeoutMs });
  await row.click();
}

/**
 * The innermost webview frame showing the circuitscope view of `kind` ('circuit' or 'compare') with
 * its graphs drawn. Webviews are two nested iframes; they are found by content, not by position.
 */
export async function viewFrame(page, kind, { panes = 1, timeoutMs = limits.engine } = {}) {
  const deadline = Date.now() + timeoutMs;
  const selector = `#app[data-view="${kind}"] .cs-cy canvas`;
  for (;;) {
    for (const f of page.frames()) {
      if (f === page.mainFrame() || f.isDetached()) continue;
      const n = await f
        .locator(selector)
        .count()
        .catch(() => 0);
      if (n === 0) continue;
      const drawn = await f
        .locator('.cs-cy')
        .count()
        .catch(() => 0);
      if (drawn >= panes) return f;
    }
    await failOnErrorToast(page);
    if (Date.now() > deadline) throw new Error(`no ${kind} view with ${panes} graph(s) appeared within ${timeoutMs} ms`);
    await sleep(250);
  }
}

/**
 * The first frame (of any webview, at any depth) that holds `selector`: the notebook's output webview,
 * for example, which is not one of the circuitscope views viewFrame finds.
 */
export async function frameWith(page, selector, what, { timeoutMs = limits.engine } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const f of page.frames()) {
      if (f === page.mainFrame() || f.isDetached()) continue;
      if ((await f.locator(selector).count().catch(() => 0)) > 0) return f;
    }
    await failOnErrorToast(page);
    if (Date.now() > deadline) throw new Error(`${what} did not appear within ${timeoutMs} ms`);
    await sleep(250);
  }
}

/**
 * What one graph shows, read in the webview: the node and edge counts of its accessible label, the
 * number of painted pixels on its canvases (Cytoscape's layers), and whether the test hooks exist.
 */
export async function graphFacts(frame, index = 0) {
  return frame.locator('.cs-cy').nth(index).evaluate((cy) => {
    const m = /(\d+) nodes and (\d+) edges in the circuit/.exec(cy.getAttribute('aria-label') ?? '');
    let painted = 0;
    for (const c of cy.querySelectorAll('canvas')) {
      if (!c.width || !c.height) continue;
      const ctx = c.getContext('2d');
      if (!ctx) continue;
      const px = ctx.getImageData(0, 0, c.width, c.height).data;
      for (let i = 3; i < px.length; i += 4 * 7) if (px[i] > 0) painted++;
    }
    const r = cy.getBoundingClientRect();
    return { nodes: m ? Number(m[1]) : -1, edges: m ? Number(m[2]) : -1, painted, width: r.width, height: r.height, hooks: typeof window.__circuitscopeTest?.nodePosition === 'function' };
  });
}

export function assertDrawn(facts, what) {
  if (!(facts.nodes > 0 && facts.edges > 0)) throw new Error(`${what}: the graph's label reports ${facts.nodes} nodes and ${facts.edges} edges`);
  if (facts.width < 100 || facts.height < 100) throw new Error(`${what}: the graph is ${facts.width}×${facts.height} px`);
  if (facts.painted < 50) throw new Error(`${what}: the graph's canvases are blank (${facts.painted} painted samples)`);
}

/** Activates the editor tab whose label starts with `title`. */
export async function activateTab(page, title) {
  const tab = page.locator('.tabs-container .tab', { hasText: title }).first();
  await tab.waitFor({ state: 'visible', timeout: limits.ui });
  // A workbench hover (the command centre's "Search workspace — …" tooltip, left by a click on it) can
  // lie over the tab and take the click: move the pointer to the status bar first and let the hover
  // go, as a user whose tooltip is in the way would.
  const status = await page.locator('.statusbar').boundingBox().catch(() => null);
  await page.mouse.move(status ? status.x + status.width / 2 : 600, status ? status.y + status.height / 2 : 890);
  await page.locator('.context-view .hover-contents').first().waitFor({ state: 'hidden', timeout: 3000 }).catch(() => undefined);
  await tab.click();
}

/**
 * Answers a save dialog. In code-server the dialog is the "simple file dialog": a QuickInput whose
 * value is the proposed path. As a user would, the test first types the target folder (with a trailing
 * slash, which makes the dialog list it), then the full path, and presses Enter. A path in a folder the
 * dialog has not listed yet only makes the first Enter list that folder, and an Enter that arrives while
 * the dialog is still updating can be lost, so Enter is repeated (at most 5 times) until it closes.
 */
export async function answerSaveDialog(page, target, { timeoutMs = limits.ui } = {}) {
  const widget = page.locator('.quick-input-widget');
  const input = widget.locator('input.input');
  await input.waitFor({ state: 'visible', timeout: timeoutMs });
  // The dialog shows its OK button; the command palette that opened it does not.
  await widget.locator('.quick-input-action', { hasText: 'OK' }).first().waitFor({ state: 'visible', timeout: timeoutMs });
  /** Waits until the box holds a value matching `ok` that stays put for 300 ms; returns it. */
  const settled = async (ok) => {
    let value = '';
    for (let stable = 0, by = Date.now() + 5_000; stable < 3 && Date.now() < by; ) {
      const v = await input.inputValue();
      stable = v === value && ok(v) ? stable + 1 : 0;
      value = v;
      await sleep(100);
    }
    return value;
  };
  // The dialog fills in its proposal (folder, then file name) asynchronously; typing earlier could be overwritten.
  const proposed = await settled((v) => /[^/]$/.test(v));
  const folder = path.dirname(target) + '/';
  await input.fill(folder);
  await settled((v) => v === folder);
  await input.fill(target);
  await settled((v) => v === target);
  const deadline = Date.now() + timeoutMs;
  for (let presses = 1; ; presses++) {
    await page.keyboard.press('Enter');
    try {
      await widget.waitFor({ state: 'hidden', timeout: 2_000 });
      return { proposed, presses };
    } catch {
      const message = (await widget.locator('.quick-input-message').innerText().catch(() => '')).trim();
      const value = await input.inputValue().catch(() => '');
      if (value !== target) throw new Error(`the save dialog changed the path to ${value}${message ? ` (${message})` : ''}`);
      if (Date.now() > deadline || presses >= 5) throw new Error(`the save dialog did not accept ${target} after ${presses} Enter${message ? `: ${message}` : ''}`);
    }
  }
}

export async function waitForFile(file, timeoutMs = limits.file) {
  const deadline = Date.now() + timeoutMs;
  while (!(fs.existsSync(file) && fs.statSync(file).size > 0)) {
    if (Date.now() > deadline) throw new Error(`${file} was not written within ${timeoutMs} ms`);
    await sleep(200);
  }
  // Written with one writeFileSync; wait for the size to settle anyway.
  let size = -1;
  while (size !== fs.statSync(file).size) {
    size = fs.statSync(file).size;
    await sleep(100);
  }
  return fs.readFileSync(file, 'utf8');
}

// ---- file checks ----

/** Splits CSV text into rows of fields (RFC 4180 quoting). */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field), rows.push(row), (row = []), (field = '');
    } else field += c;
  }
  if (quoted) throw new Error('CSV ends inside a quoted field');
  if (field !== '' || row.length) row.push(field), rows.push(row);
  return rows;
}

/** Checks that SVG text is one well-nested element tree rooted at <svg>; returns its element count. */
export function checkSvg(text) {
  const body = text.replace(/^\uFEFF/, '').trimStart();
  if (!body.startsWith('<svg') && !body.startsWith('<?xml')) throw new Error(`the SVG starts with ${JSON.stringify(body.slice(0, 40))}`);
  const stack = [];
  let elements = 0;
  let root;
  const re = /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<\?[\s\S]*?\?>|<!DOCTYPE[^>]*>|<(\/?)([A-Za-z_][\w:.-]*)((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/g;
  let m;
  let last = 0;
  while ((m = re.exec(body))) {
    // Text between tags may hold '>' but no '<', and '&' only as an entity.
    const between = body.slice(last, m.index);
    if (/<|&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[\da-fA-F]+);)/.test(between)) throw new Error(`bad text near ${JSON.stringify(between.slice(0, 60))}`);
    last = re.lastIndex;
    if (!m[2]) continue;
    const [, close, name, , selfClose] = m;
    if (close) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open ?? 'nothing'}>`);
    } else {
      if (root !== undefined && stack.length === 0) throw new Error(`a second root element <${name}>`);
      elements++;
      root ??= name;
      if (!selfClose) stack.push(name);
    }
  }
  if (body.slice(last).trim()) throw new Error(`text after the root element: ${JSON.stringify(body.slice(last, last + 60))}`);
  if (stack.length) throw new Error(`unclosed elements: ${stack.join(' > ')}`);
  if (root !== 'svg') throw new Error(`the root element is <${root}>`);
  return elements;
}
