/**
 * The host ↔ webview channel of the circuit and compare views: one string-tagged union per direction.
 * Everything is plain JSON (numbers rounded for display by the host); the webview rebuilds the circuit
 * graph from `cfg` with src/shared/circuit.ts, so edge names never travel.
 */
import type { CircuitConfig } from './circuit';

export type HeadRoleName = 'mover' | 'relation' | 'mixture';

/** What the hover card shows for a head. */
export interface HeadInfo {
  readonly role?: HeadRoleName;
  /** ratioSubj / ratioRel of the DLA-by-source analysis. */
  readonly ratio?: number;
  readonly attnSubj?: number;
  readonly attnRel?: number;
  readonly promotes?: readonly string[];
  readonly suppresses?: readonly string[];
}

/** One circuit as the view draws it. */
export interface CircuitViewData {
  /** Shown above the graph: the checkpoint's folder name and step. */
  readonly title: string;
  readonly checkpoint: string;
  readonly cfg: CircuitConfig;
  /** One score per edge of the full graph in construction order; null where unscored. */
  readonly scores: readonly (number | null)[];
  /** The circuit's N as discovered (the slider's initial value). */
  readonly topN: number;
  /** Faithfulness against circuit size, for the curve linked to the slider. */
  readonly curve: readonly { readonly topN: number; readonly edges: number; readonly faithfulness: number }[];
  /**
   * MIB's areas over the edge shares (discover --mib; the circuit file's `circuitscope.mib`), shown
   * beside the slider: CPR from the signed-score circuits (higher is better), CMD from the |score|
   * circuits (lower is better), and what edges outside the circuit carried.
   */
  readonly mib?: { readonly cpr: number; readonly cmd: number; readonly ablation?: string };
  /** The circuit's trust warnings (`circuitscope.trust.warnings`), shown in the header. */
  readonly trustWarnings?: readonly string[];
  /** Per head node name ('a3.h7'). */
  readonly heads: Readonly<Record<string, HeadInfo>>;
  /** Figures shown in the view's header. */
  readonly summary: {
    readonly faithfulness?: number;
    readonly hit10?: number;
    readonly method?: string;
    readonly prompts?: number;
  };
  /** Where the circuit came from, read from the circuit file's provenance; shown in the header. */
  readonly provenance?: CircuitProvenanceView;
}

/** The provenance the header and the exports name. */
export interface CircuitProvenanceView {
  /** The prompt set's file name ('cities.jsonl'). */
  readonly promptSet?: string;
  readonly promptsPath?: string;
  readonly method?: string;
  readonly steps?: number;
  /** The circuit file the view shows. */
  readonly circuitFile?: string;
  readonly createdAt?: string;
}

/** A group of nodes the user made by hand (a Neuronpedia supernode): a label and its members. */
export interface SavedGroup {
  readonly label: string;
  readonly members: readonly string[];
  readonly collapsed?: boolean;
}

export type AutoGroupMode = 'none' | 'role' | 'layer';

/**
 * The view state saved beside the circuit (its `.view.json` sidecar) and restored when the circuit
 * is opened again, so a view can be shared as files: N, selection, pins, groups and their labels.
 */
export interface SavedView {
  readonly topN?: number;
  readonly selected?: string;
  readonly pins?: readonly string[];
  readonly groups?: readonly SavedGroup[];
  readonly autoGroups?: AutoGroupMode;
  /** Ids of the collapsed automatic groups ('role:mover', 'layer:3'). */
  readonly collapsedAuto?: readonly string[];
}

/** Per-layer drift between two circuits (B − A), with the summary figures. */
export interface DriftData {
  readonly layers: readonly number[];
  readonly edgeActivationA: readonly number[];
  readonly edgeActivationB: readonly number[];
  readonly scoreMassA: readonly number[];
  readonly scoreMassB: readonly number[];
  readonly nodeJaccard: number;
  readonly edgeJaccard: number;
  readonly pearson: number;
  readonly kendallTauB: number;
  readonly faithfulnessDelta?: number;
  readonly addedCount: number;
  readonly removedCount: number;
  readonly signFlippedCount: number;
}

/** UI state the view keeps across hide/show and reload (setState); data is always re-sent. */
export interface ViewState extends SavedView {
  readonly topN?: number;
  readonly selected?: string;
  readonly zoom?: number;
  readonly pan?: { readonly x: number; readonly y: number };
}

export type ViewSide = 'single' | 'a' | 'b';

export type ExportFormat = 'svg' | 'png';

/** Host → webview. */
export type ToWebview =
  /** `saved`: the view state saved with the circuit, applied unless the webview holds newer state. */
  | { readonly type: 'showCircuit'; readonly circuit: CircuitViewData; readonly saved?: SavedView }
  | { readonly type: 'showCompare'; readonly a: CircuitViewData; readonly b: CircuitViewData; readonly drift: DriftData }
  | { readonly type: 'requestExport'; readonly format: ExportFormat; readonly side: ViewSide }
  | { readonly type: 'error'; readonly message: string };

/** Webview → host. Every message is validated with `isFromWebview` before dispatch. */
export type FromWebview =
  | { readonly type: 'ready' }
  /** The user moved the top-N slider; the host may record it (exports use the current N). */
  | { readonly type: 'topNChanged'; readonly side: ViewSide; readonly topN: number }
  | { readonly type: 'nodeSelected'; readonly side: ViewSide; readonly node: string | null }
  /** The answer to requestExport: SVG text, or a PNG as a data: URL. */
  | { readonly type: 'exported'; readonly format: ExportFormat; readonly side: ViewSide; readonly data: string }
  | { readonly type: 'log'; readonly level: 'info' | 'warn' | 'error'; readonly message: string }
  /** The view state to save with the circuit (pins, groups, N, selection); the host writes the sidecar. */
  | { readonly type: 'viewStateChanged'; readonly side: ViewSide; readonly state: SavedView };

export function assertNever(x: never): never {
  throw new Error(`unexpected message: ${JSON.stringify(x)}`);
}

const sides: readonly string[] = ['single', 'a', 'b'];
const isStr = (x: unknown): x is string => typeof x === 'string';
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

const isNodeName = (x: unknown): x is string => isStr(x) && x.length > 0 && x.length < 64;
const isList = (x: unknown, max: number, item: (y: unknown) => boolean): boolean => Array.isArray(x) && x.length <= max && x.every(item);

function isSavedGroup(x: unknown): boolean {
  return isObj(x) && isStr(x.label) && x.label.length <= 200 && isList(x.members, 100_000, isNodeName) && (x.collapsed === undefined || typeof x.collapsed === 'boolean');
}

/** Guard for a saved view state, from the webview or from a sidecar file on disk. */
export function isSavedView(x: unknown): x is SavedView {
  if (!isObj(x)) return false;
  return (
    (x.topN === undefined || (Number.isInteger(x.topN) && (x.topN as number) >= 1)) &&
    (x.selected === undefined || isNodeName(x.selected)) &&
    (x.pins === undefined || isList(x.pins, 100_000, isNodeName)) &&
    (x.groups === undefined || isList(x.groups, 1_000, isSavedGroup)) &&
    (x.autoGroups === undefined || x.autoGroups === 'none' || x.autoGroups === 'role' || x.autoGroups === 'layer') &&
    (x.collapsedAuto === undefined || isList(x.collapsedAuto, 10_000, (y) => isStr(y) && y.length < 64))
  );
}

/** Type guard for messages from a webview: anything else is dropped by the host with a log line. */
export function isFromWebview(x: unknown): x is FromWebview {
  if (!isObj(x) || !isStr(x.type)) return false;
  switch (x.type) {
    case 'ready':
      return Object.keys(x).length === 1;
    case 'topNChanged':
      return sides.includes(x.side as string) && Number.isInteger(x.topN) && (x.topN as number) >= 0;
    case 'nodeSelected':
      return sides.includes(x.side as string) && (x.node === null || (isStr(x.node) && x.node.length < 64));
    case 'exported':
      return (x.format === 'svg' || x.format === 'png') && sides.includes(x.side as string) && isStr(x.data) && x.data.length < 64 * 1024 * 1024;
    case 'viewStateChanged':
      return sides.includes(x.side as string) && isSavedView(x.state);
    case 'log':
      return (x.level === 'info' || x.level === 'warn' || x.level === 'error') && isStr(x.message) && x.message.length < 10_000;
    default:
      return false;
  }
}
