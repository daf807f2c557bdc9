/**
 * UI intent kept across hide/show and reload with the webview's setState (house style rule 28): top-N,
 * selection, zoom and pan per side, never data. The host re-sends the data after a reload; the state
 * is applied only when it belongs to the same circuit (or the same pair of circuits).
 */
import type { ViewSide, ViewState } from '../../src/shared/webviewProtocol';

export interface PersistedState {
  /** Which circuit the views belong to: the checkpoint, or both checkpoints of a comparison. */
  readonly key: string;
  readonly views: Partial<Record<ViewSide, ViewState>>;
  /** Compare view toggles. */
  readonly linkN?: boolean;
  readonly onlyDifferences?: boolean;
}

interface StateApi {
  getState(): PersistedState | undefined;
  setState<T extends PersistedState | undefined>(s: T): T;
}

export class StateStore {
  private state: PersistedState | undefined;

  constructor(private readonly api: StateApi) {
    this.state = api.getState();
  }

  /** Starts a new circuit: keeps the saved state if it is for the same key, else forgets it. */
  open(key: string): PersistedState {
    if (this.state?.key !== key) {
      this.state = { key, views: {} };
      this.api.setState(this.state);
    }
    return this.state;
  }

  view(side: ViewSide): ViewState {
    return this.state?.views[side] ?? {};
  }

  update(side: ViewSide, patch: Partial<ViewState>): void {
    if (!this.state) return;
    const merged: ViewState = { ...this.state.views[side], ...patch };
    this.state = { ...this.state, views: { ...this.state.views, [side]: merged } };
    this.api.setState(this.state);
  }

  setFlags(flags: Pick<PersistedState, 'linkN' | 'onlyDifferences'>): void {
    if (!this.state) return;
    this.state = { ...this.state, ...flags };
    this.api.setState(this.state);
  }
}
