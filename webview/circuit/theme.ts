/**
 * The VS Code theme as concrete colours. Page styles use the --vscode-* variables directly in
 * circuit.css, but Cytoscape's stylesheet and the exported SVG need resolved colours, so this module
 * reads the computed variables, normalises them to #rrggbb and watches for theme switches (VS Code
 * changes the body class and the variables on <html> together).
 */

export type ThemeKind = 'light' | 'dark' | 'high-contrast' | 'high-contrast-light';

export interface Theme {
  readonly kind: ThemeKind;
  readonly isDark: boolean;
  readonly background: string;
  readonly foreground: string;
  readonly muted: string;
  /**
   * Labels and outlines of nodes outside the circuit or away from the traced paths. A colour, not an
   * opacity: opacity over a black high-contrast background turns text dark and unreadable, so this
   * colour is held to 3:1 against the background (4.5:1 in high contrast).
   */
  readonly dim: string;
  readonly highContrast: boolean;
  readonly focus: string;
  /** Pinned nodes and the subgraph pane. */
  readonly pin: string;
  readonly nodeFill: string;
  readonly nodeBorder: string;
  readonly fontFamily: string;
  /** Edge colours: EAP-IG's q/k/v colours, other edges by sign. */
  readonly edge: { readonly q: string; readonly k: string; readonly v: string; readonly pos: string; readonly neg: string };
  /** Fills of heads with a role, and the text drawn on them. */
  readonly role: { readonly mover: string; readonly relation: string; readonly mixture: string; readonly text: string };
  /** Compare view marks. */
  readonly diff: { readonly added: string; readonly removed: string; readonly flipped: string };
  /** The two sides of a comparison (badges, drift bars). */
  readonly side: { readonly a: string; readonly b: string };
}

/**
 * Okabe and Ito's palette for colour-blind readers. Each meaning gets its own hue: head roles (orange,
 * sky blue, yellow), the sides of a comparison (grey, blue), and the diff marks (bluish green for
 * added, vermillion for sign flips; removed edges are dashed, not coloured), so no colour means two
 * things at once. The q/k/v edge colours stay EAP-IG's.
 */
export const okabeIto = {
  orange: '#e69f00',
  skyBlue: '#56b4e9',
  bluishGreen: '#009e73',
  yellow: '#f0e442',
  blue: '#0072b2',
  vermillion: '#d55e00',
  reddishPurple: '#cc79a7',
  grey: '#999999',
} as const;

/** EAP-IG's edge colours (graph.py EDGE_TYPE_COLORS), and its colour for negative scores. */
export const eapColours = { q: '#ff00ff', k: '#00ff00', v: '#0000ff', neg: '#ff0000' } as const;

type Rgb = readonly [number, number, number];

let probe: CanvasRenderingContext2D | null | undefined;

/** Parses any CSS colour the browser understands, composited over `under` when translucent. */
export function parseColour(value: string, under: Rgb = [255, 255, 255]): Rgb | undefined {
  const v = value.trim();
  if (!v) return undefined;
  probe ??= document.createElement('canvas').getContext('2d');
  if (!probe) return undefined;
  // Two sentinels tell an invalid value (which leaves fillStyle unchanged) from a valid one.
  probe.fillStyle = '#010203';
  probe.fillStyle = v;
  const a = probe.fillStyle;
  probe.fillStyle = '#040506';
  probe.fillStyle = v;
  if (a !== probe.fillStyle) return undefined;
  if (a.startsWith('#')) return [parseInt(a.slice(1, 3), 16), parseInt(a.slice(3, 5), 16), parseInt(a.slice(5, 7), 16)];
  const m = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)/.exec(a);
  if (!m) return undefined;
  const alpha = m[4] === undefined ? 1 : Number(m[4]);
  return [0, 1, 2].map((i) => Math.round(Number(m[i + 1]) * alpha + under[i] * (1 - alpha))) as unknown as Rgb;
}

export function toHex(c: Rgb): string {
  return '#' + c.map((x) => Math.max(0, Math.min(255, Math.round(x))).toString(16).padStart(2, '0')).join('');
}

function luminance(c: Rgb): number {
  const lin = c.map((x) => {
    const s = x / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
}

/** WCAG contrast ratio of two colours. */
export function contrast(a: Rgb, b: Rgb): number {
  const [la, lb] = [luminance(a), luminance(b)];
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return [0, 1, 2].map((i) => a[i] * (1 - t) + b[i] * t) as unknown as Rgb;
}

/**
 * Keeps a colour's hue but moves it toward white (dark themes) or black (light themes) until it reaches
 * `min` contrast with the background. EAP-IG's pure blue is nearly invisible on a dark editor and its
 * pure green on a light one; every colour that is already legible stays exactly as EAP-IG draws it.
 */
export function legible(colour: string, bg: Rgb, min = 3): string {
  const c = parseColour(colour) ?? ([128, 128, 128] as const);
  const toward: Rgb = luminance(bg) < 0.5 ? [255, 255, 255] : [0, 0, 0];
  for (let t = 0; t <= 1.0001; t += 0.05) {
    const m = mix(c, toward, t);
    if (contrast(m, bg) >= min) return toHex(m);
  }
  return toHex(toward);
}

function cssVar(style: CSSStyleDeclaration, name: string, fallback: string): string {
  return style.getPropertyValue(name).trim() || fallback;
}

function kindOf(body: HTMLElement, isDark: boolean): ThemeKind {
  const c = body.classList;
  if (c.contains('vscode-high-contrast-light')) return 'high-contrast-light';
  if (c.contains('vscode-high-contrast')) return isDark ? 'high-contrast' : 'high-contrast-light';
  if (c.contains('vscode-light')) return 'light';
  if (c.contains('vscode-dark')) return 'dark';
  return isDark ? 'dark' : 'light';
}

/** Reads the current theme from the computed --vscode-* variables and the body class. */
export function readTheme(): Theme {
  const style = getComputedStyle(document.body);
  const bgRgb = parseColour(cssVar(style, '--vscode-editor-background', '')) ?? parseColour(getComputedStyle(document.body).backgroundColor) ?? [255, 255, 255];
  const isDark = luminance(bgRgb) < 0.5;
  const resolve = (name: string, fallback: string) => toHex(parseColour(cssVar(style, name, fallback), bgRgb) ?? parseColour(fallback, bgRgb)!);
  const foreground = resolve('--vscode-foreground', isDark ? '#cccccc' : '#3b3b3b');
  const fgRgb = parseColour(foreground)!;
  const kind = kindOf(document.body, isDark);
  const hc = kind === 'high-contrast' || kind === 'high-contrast-light';
  const nodeFill = resolve('--vscode-editorWidget-background', isDark ? '#252526' : '#f3f3f3');
  // Head roles are node fills with dark text: Okabe-Ito hues far from the q/k/v edge colours.
  const role = { mover: okabeIto.orange, relation: okabeIto.skyBlue, mixture: okabeIto.yellow, text: '#1b1b1b' };
  const muted = resolve('--vscode-descriptionForeground', isDark ? '#9d9d9d' : '#717171');
  return {
    kind,
    isDark,
    highContrast: hc,
    background: toHex(bgRgb),
    foreground,
    muted,
    dim: legible(toHex(mix(fgRgb, bgRgb, hc ? 0.25 : 0.5)), bgRgb, hc ? 4.5 : 3),
    focus: resolve('--vscode-focusBorder', isDark ? '#0078d4' : '#005fb8'),
    pin: legible(okabeIto.reddishPurple, bgRgb),
    nodeFill,
    nodeBorder: hc ? resolve('--vscode-contrastBorder', foreground) : toHex(mix(fgRgb, bgRgb, 0.45)),
    fontFamily: cssVar(style, '--vscode-font-family', 'system-ui, sans-serif'),
    edge: {
      q: legible(eapColours.q, bgRgb),
      k: legible(eapColours.k, bgRgb),
      v: legible(eapColours.v, bgRgb),
      pos: foreground,
      neg: legible(eapColours.neg, bgRgb),
    },
    role,
    diff: {
      added: legible(okabeIto.bluishGreen, bgRgb),
      removed: foreground,
      flipped: legible(okabeIto.vermillion, bgRgb),
    },
    side: { a: legible(okabeIto.grey, bgRgb), b: legible(okabeIto.blue, bgRgb) },
  };
}

/**
 * Calls `onChange` with the new theme whenever VS Code switches themes. It watches the body class
 * and the style attribute of <html>, where VS Code writes the variables.
 */
export function watchTheme(onChange: (t: Theme) => void): () => void {
  let last = JSON.stringify(readTheme());
  const obs = new MutationObserver(() => {
    const t = readTheme();
    const key = JSON.stringify(t);
    if (key === last) return;
    last = key;
    onChange(t);
  });
  obs.observe(document.body, { attributes: true, attributeFilter: ['class'] });
  obs.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
  return () => obs.disconnect();
}
