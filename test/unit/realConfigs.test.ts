/**
 * The config.json files of the checkpoints researchers bring (as published, field for field) are read,
 * not refused, and give the circuit-graph sizes of the method spec's formula (§1.3: nodes
 * 2 + L(H+1); edges 3H·Σ_l(1 + l(H+1)) into q/k/v, Σ_l(1 + l(H+1) + H) into MLPs (without the + H for
 * parallel blocks), 1 + L(H+1) into the logits). The expected sizes were computed from that formula
 * by hand, not by the code under test.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../../src/engine/model/config';
import { CircuitGraph } from '../../src/shared/circuit';
import { repoRoot } from '../helpers/tinyModels';

const configs = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test/fixtures/real-configs.json'), 'utf8')) as Record<string, Record<string, unknown>>;

// model: [family, layers, heads, kv heads, head dim, rotary dims, nodes, edges, sliding layers]
const expected: Record<string, [string, number, number, number, number, number, number, number, number]> = {
  'meta-llama/Llama-3.2-1B': ['llama', 16, 32, 8, 64, 64, 530, 386713, 0],
  'meta-llama/Llama-3.1-8B': ['llama', 32, 32, 8, 128, 128, 1058, 1592881, 0],
  'mistralai/Mistral-7B-v0.1': ['llama', 32, 32, 8, 128, 128, 1058, 1592881, 32],
  'Qwen/Qwen2.5-0.5B': ['llama', 24, 14, 2, 64, 64, 362, 179749, 0],
  'Qwen/Qwen3-0.6B': ['qwen3', 28, 16, 8, 128, 128, 478, 317171, 0],
  'HuggingFaceTB/SmolLM2-135M': ['llama', 30, 9, 3, 64, 64, 302, 123211, 0],
  'microsoft/phi-1_5': ['phi', 24, 32, 32, 64, 32, 794, 886597, 0],
  'microsoft/phi-2': ['phi', 32, 32, 32, 80, 32, 1058, 1591857, 0],
  'google/gemma-2-2b': ['gemma2', 26, 8, 4, 256, 256, 236, 74218, 13],
  'google/gemma-3-1b-pt': ['gemma3', 26, 4, 1, 256, 256, 132, 21698, 22],
  'allenai/OLMo-1B-hf': ['olmo', 16, 16, 16, 128, 128, 274, 101273, 0],
  'allenai/OLMo-2-0425-1B': ['olmo2', 16, 16, 16, 128, 128, 274, 101273, 0],
  'EleutherAI/pythia-160m': ['gpt_neox', 12, 12, 12, 64, 16, 158, 32347, 0],
  'openai-community/gpt2': ['gpt2', 12, 12, 12, 64, 0, 158, 32491, 0],
};

test('published configs of every family load with the right shapes and graph sizes', () => {
  assert.deepEqual(Object.keys(configs).sort(), Object.keys(expected).sort());
  for (const [name, cfg] of Object.entries(configs)) {
    const [family, L, H, Hkv, e, rot, nodes, edges, sliding] = expected[name];
    const s = parseConfig(cfg, `${name}/config.json`);
    assert.deepEqual([s.family, s.nLayers, s.nHeads, s.nKvHeads, s.dHead, s.rotaryDim], [family, L, H, Hkv, e, rot], name);
    assert.equal(s.layerTypes.filter((t) => t === 'sliding').length, sliding, `${name}: sliding layers`);
    const g = new CircuitGraph({ nLayers: s.nLayers, nHeads: s.nHeads, parallelAttnMlp: s.parallelAttnMlp });
    assert.equal(g.nodes.length, nodes, `${name}: nodes`);
    assert.equal(g.edges.length, edges, `${name}: edges`);
  }
});

test('family details read from the published configs', () => {
  const spec = (n: string) => parseConfig(configs[n], n);
  const llama = spec('meta-llama/Llama-3.2-1B');
  assert.deepEqual(llama.rope, { type: 'llama3', theta: 500000, factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 });
  const gemma2 = spec('google/gemma-2-2b');
  assert.deepEqual([gemma2.attnSoftcap, gemma2.finalSoftcap, gemma2.embedScale, gemma2.attnScale], [50, 30, Math.sqrt(2304), 1 / 16]);
  // Gemma-2: even layers slide; Gemma-3: every sixth layer is global.
  assert.deepEqual(gemma2.layerTypes.slice(0, 4), ['sliding', 'full', 'sliding', 'full']);
  const gemma3 = spec('google/gemma-3-1b-pt');
  assert.deepEqual(gemma3.layerTypes.slice(0, 6), ['sliding', 'sliding', 'sliding', 'sliding', 'sliding', 'full']);
  assert.deepEqual([gemma3.rope?.theta, gemma3.ropeLocal?.theta, gemma3.slidingWindow, gemma3.finalSoftcap, gemma3.qkNorm], [1e6, 10000, 512, undefined, 'head']);
  const olmo2 = spec('allenai/OLMo-2-0425-1B');
  assert.deepEqual([olmo2.preNorm, olmo2.postNorm, olmo2.qkNorm], [false, true, 'projection']);
  const olmo = spec('allenai/OLMo-1B-hf');
  assert.deepEqual([olmo.norm, olmo.normWeights, olmo.normEps, olmo.clipQkv], ['layernorm', false, 1e-5, undefined]);
  const phi = spec('microsoft/phi-2');
  assert.deepEqual([phi.parallelAttnMlp, phi.sharedBlockNorm, phi.unembedBias, phi.act], [true, true, true, 'gelu_new']);
  assert.equal(spec('mistralai/Mistral-7B-v0.1').slidingWindow, 4096);
});

test("absent fields take the configuration class's defaults", () => {
  const mistral = { ...configs['mistralai/Mistral-7B-v0.1'] };
  delete mistral.sliding_window;
  const m = parseConfig(mistral, 'mistral/config.json');
  assert.deepEqual([m.slidingWindow, m.layerTypes.every((t) => t === 'sliding')], [4096, true], 'MistralConfig.sliding_window = 4096');
  assert.equal(parseConfig({ ...mistral, sliding_window: null }, 'm').layerTypes.includes('sliding'), false, 'null turns the window off');
  // transformers 5 fills a llama3 rope's original_max_position_embeddings from max_position_embeddings.
  const llama = configs['meta-llama/Llama-3.2-1B'];
  const { rope_scaling: scaling, rope_theta: theta, ...rest } = llama as Record<string, unknown> & { rope_scaling: Record<string, unknown> };
  const { original_max_position_embeddings: _drop, ...params } = scaling;
  const v5 = parseConfig({ ...rest, rope_parameters: { ...params, rope_theta: theta } }, 'llama/config.json');
  assert.equal(v5.rope?.originalMaxPositions, 131072);
  assert.throws(() => parseConfig({ ...rest, rope_theta: theta, rope_scaling: params }, 'llama/config.json'), /rope_scaling\.original_max_position_embeddings/);
});

test('layer_types is accepted where every layer is full attention, and refused where a family has no sliding window', () => {
  const llama = configs['meta-llama/Llama-3.2-1B'];
  const full = new Array(16).fill('full_attention');
  assert.equal(parseConfig({ ...llama, layer_types: full }, 'llama/config.json').layerTypes.every((t) => t === 'full'), true);
  assert.throws(() => parseConfig({ ...llama, layer_types: ['sliding_attention', ...full.slice(1)] }, 'llama/config.json'), /'layer_types'/);
});
