/**
 * Checks of the float64 family reference (test/helpers/referenceFamilies.ts) that need no engine: it
 * agrees with reference.ts where the architectures coincide (plain Llama/Qwen2, Mistral with a window
 * longer than the prompt, Phi as a parallel-residual GPT-NeoX), Llama-3 RoPE that changes no frequency
 * is default RoPE, transformers-5 configs give the same logits as their legacy twins, HF's defaults
 * apply to absent fields, the recorded nodes add up to the residual stream, and the logits equal golden
 * values computed by transformers itself.
 */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { familyBuilders, gemma2Tiny, gemma3Tiny, llama3Tiny, mistralTiny, olmo2Tiny, olmoTiny, phiTiny, qwen3Tiny } from '../helpers/familyModels';
import { llamaForward, neoxForward, type LlamaCfg, type Mat, type RefHooks, type Tensors } from '../helpers/reference';
import { familyForward, parseFamily, postAttentionNorm } from '../helpers/referenceFamilies';
import { llamaTiny, type TinyModel } from '../helpers/tinyModels';

const ids = [5, 17, 300, 42, 7, 99, 250, 3];

function maxDiff(a: Mat, b: Mat): number {
  assert.equal(a.length, b.length);
  let m = 0;
  a.forEach((r, i) => r.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i][j])))));
  return m;
}
const close = (a: Mat, b: Mat, tol = 1e-10, msg = '') => {
  const dd = maxDiff(a, b);
  assert.ok(dd <= tol, `${msg} maxdiff ${dd}`);
};

/** A recorder plus an input hook that nudges one head's key input, so both paths exercise hooks. */
function hookSet(): { hooks: RefHooks; rec: Map<string, Mat>; inputs: Map<string, Mat> } {
  const rec = new Map<string, Mat>();
  const inputs = new Map<string, Mat>();
  return {
    rec,
    inputs,
    hooks: {
      record: (n, out) => void rec.set(n, out),
      input: (dest, x) => {
        inputs.set(dest, x);
        return dest === 'a1.h2<k>' ? x.map((r) => r.map((v) => v * 1.1)) : x;
      },
    },
  };
}

const asLlamaCfg = (c: Record<string, unknown>): LlamaCfg => ({
  hidden_size: c.hidden_size as number,
  intermediate_size: c.intermediate_size as number,
  num_hidden_layers: c.num_hidden_layers as number,
  num_attention_heads: c.num_attention_heads as number,
  num_key_value_heads: c.num_key_value_heads as number,
  vocab_size: c.vocab_size as number,
  rms_norm_eps: c.rms_norm_eps as number,
  rope_theta: c.rope_theta as number,
  tie_word_embeddings: !!c.tie_word_embeddings,
});

test('plain Llama and Qwen2 configs match reference.ts llamaForward, records and hooked inputs included', () => {
  const models: TinyModel[] = [llamaTiny(), llamaTiny({ tied: true, qkvBias: true, mlpBias: true, seed: 5 }), llamaTiny({ arch: 'Qwen2ForCausalLM', qkvBias: true, seed: 6 })];
  for (const model of models) {
    const a = hookSet();
    const b = hookSet();
    const got = familyForward(model.config, model.tensors, ids, a.hooks);
    const want = llamaForward(model.tensors, asLlamaCfg(model.config), ids, b.hooks);
    close(got, want, 1e-10, String(model.config.architectures));
    assert.deepEqual([...a.rec.keys()].sort(), [...b.rec.keys()].sort());
    for (const [k, v] of b.rec) close(a.rec.get(k)!, v, 1e-10, k);
    assert.deepEqual([...a.inputs.keys()].sort(), [...b.inputs.keys()].sort());
  }
});

test('Mistral with a window at least as long as the prompt is Llama; a window of 3 masks keys i - j >= 3', () => {
  const wide = mistralTiny({ slidingWindow: ids.length });
  const none = mistralTiny({ slidingWindow: null });
  const want = llamaForward(wide.tensors, asLlamaCfg(wide.config), ids);
  close(familyForward(wide.config, wide.tensors, ids), want);
  close(familyForward(none.config, none.tensors, ids), want);
  const narrow = mistralTiny();
  assert.deepEqual(parseFamily(narrow.config).windows, [3, 3]);
  const patterns = new Map<string, Mat>();
  const got = familyForward(narrow.config, narrow.tensors, ids, { pattern: (n, A) => void patterns.set(n, A) });
  assert.ok(maxDiff(got, want) > 1e-3, 'the window changes the logits');
  for (const A of patterns.values()) {
    A.forEach((row, i) => {
      row.forEach((p, j) => (j > i || i - j >= 3 ? assert.equal(p, 0) : assert.ok(p > 0)));
      assert.ok(Math.abs(row.reduce((x, y) => x + y, 0) - 1) < 1e-12);
    });
  }
  // Absent sliding_window means the class default 4096: no effect on a short prompt.
  const absent = { ...narrow.config };
  delete absent.sliding_window;
  assert.deepEqual(parseFamily(absent).windows, [4096, 4096]);
});

test('Llama-3 RoPE: factor 1 is default RoPE; the bands follow the llama3 formula', () => {
  const m = llama3Tiny({ factor: 1 });
  const plain = { ...m.config, rope_scaling: null };
  close(familyForward(m.config, m.tensors, ids), familyForward(plain, m.tensors, ids), 1e-12);
  // Factors that put every wavelength in the high-frequency band also leave RoPE unchanged.
  const high = llama3Tiny({ factor: 8, originalMax: 4, lowFreqFactor: 0.001, highFreqFactor: 0.002 });
  close(familyForward(high.config, high.tensors, ids), familyForward({ ...high.config, rope_scaling: null }, high.tensors, ids), 1e-12);
  const s = parseFamily(llama3Tiny().config);
  const f = [1, 100 ** -0.25, 0.1, 100 ** -0.75];
  const wl = (2 * Math.PI) / f[1]; // 19.9: between 32/4 and 32/1
  const smooth = (32 / wl - 1) / (4 - 1);
  const want = [f[0], ((1 - smooth) * f[1]) / 4 + smooth * f[1], f[2] / 4, f[3] / 4];
  s.ropes[0].invFreq.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-15, `inv_freq[${i}] ${v} vs ${want[i]}`));
  const legacyType = llama3Tiny({ typeKey: 'type' });
  close(familyForward(legacyType.config, legacyType.tensors, ids), familyForward(llama3Tiny().config, legacyType.tensors, ids), 0);
  const full = familyForward(llama3Tiny().config, llama3Tiny().tensors, ids);
  assert.ok(maxDiff(full, familyForward({ ...llama3Tiny().config, rope_scaling: null }, llama3Tiny().tensors, ids)) > 1e-4);
});

test('transformers-5 configs (rope_parameters) give the legacy twin’s logits', () => {
  for (const [name, build] of Object.entries(familyBuilders)) {
    const legacy = build();
    const v5 = build({ v5: true });
    assert.ok(v5.config.rope_parameters, name);
    for (const k of ['rope_theta', 'rope_scaling', 'partial_rotary_factor', 'rope_local_base_freq']) assert.ok(!(k in v5.config), `${name} ${k}`);
    close(familyForward(v5.config, v5.tensors, ids), familyForward(legacy.config, legacy.tensors, ids), 0, name);
  }
  const g = gemma3Tiny({ v5: true }).config.rope_parameters as Record<string, unknown>;
  assert.deepEqual(Object.keys(g).sort(), ['full_attention', 'sliding_attention']);
});

test('Phi is a parallel-residual GPT-NeoX with one shared LayerNorm and partial rotary', () => {
  {
    const phi = phiTiny({ hiddenAct: 'gelu' });
    const c = phi.config;
    const [d, H, L, m, V] = [c.hidden_size, c.num_attention_heads, c.num_hidden_layers, c.intermediate_size, c.vocab_size] as number[];
    const e = d / H;
    const t = phi.tensors;
    const nt: Tensors = {
      'gpt_neox.embed_in.weight': t['model.embed_tokens.weight'],
      'gpt_neox.final_layer_norm.weight': t['model.final_layernorm.weight'],
      'gpt_neox.final_layer_norm.bias': t['model.final_layernorm.bias'],
      'embed_out.weight': t['lm_head.weight'],
    };
    for (let l = 0; l < L; l++) {
      const p = `model.layers.${l}.`;
      const q = `gpt_neox.layers.${l}.`;
      const W = new Float32Array(3 * d * d);
      const b = new Float32Array(3 * d);
      for (let hd = 0; hd < H; hd++) {
        (['q', 'k', 'v'] as const).forEach((x, s) => {
          const src = t[`${p}self_attn.${x}_proj.weight`].data;
          const sb = t[`${p}self_attn.${x}_proj.bias`].data;
          for (let r = 0; r < e; r++) {
            W.set(src.subarray((hd * e + r) * d, (hd * e + r + 1) * d), (hd * 3 * e + s * e + r) * d);
            b[hd * 3 * e + s * e + r] = sb[hd * e + r];
          }
        });
      }
      Object.assign(nt, {
        [q + 'input_layernorm.weight']: t[p + 'input_layernorm.weight'],
        [q + 'input_layernorm.bias']: t[p + 'input_layernorm.bias'],
        [q + 'post_attention_layernorm.weight']: t[p + 'input_layernorm.weight'],
        [q + 'post_attention_layernorm.bias']: t[p + 'input_layernorm.bias'],
        [q + 'attention.query_key_value.weight']: { shape: [3 * d, d], data: W },
        [q + 'attention.query_key_value.bias']: { shape: [3 * d], data: b },
        [q + 'attention.dense.weight']: t[p + 'self_attn.dense.weight'],
        [q + 'attention.dense.bias']: t[p + 'self_attn.dense.bias'],
        [q + 'mlp.dense_h_to_4h.weight']: t[p + 'mlp.fc1.weight'],
        [q + 'mlp.dense_h_to_4h.bias']: t[p + 'mlp.fc1.bias'],
        [q + 'mlp.dense_4h_to_h.weight']: t[p + 'mlp.fc2.weight'],
        [q + 'mlp.dense_4h_to_h.bias']: t[p + 'mlp.fc2.bias'],
      });
    }
    const noLmBias = { ...t };
    delete noLmBias['lm_head.bias'];
    const a = hookSet();
    const b = hookSet();
    const got = familyForward(c, noLmBias, ids, a.hooks);
    const want = neoxForward(nt, { hidden_size: d, intermediate_size: m, num_hidden_layers: L, num_attention_heads: H, vocab_size: V, layer_norm_eps: c.layer_norm_eps as number, rotary_pct: c.partial_rotary_factor as number, rotary_emb_base: c.rope_theta as number, use_parallel_residual: true }, ids, b.hooks);
    close(got, want, 1e-10, 'phi vs neox');
    for (const [k, v] of b.rec) close(a.rec.get(k)!, v, 1e-10, k);
    // The parallel block's MLP reads the block's input residual.
    close(a.inputs.get('m1')!, a.inputs.get('a1.h0<q>')!, 0);
  }
  assert.equal(parseFamily(phiTiny().config).ropes[0].rot, 4);
  const noPrf = { ...phiTiny().config };
  delete noPrf.partial_rotary_factor;
  assert.equal(parseFamily(noPrf).ropes[0].rot, 5, 'PhiConfig default partial_rotary_factor 0.5: int(10 · 0.5)');
});

test('post-attention-norm families: heads add up to a{l}, and the residual gains postAttentionNorm(a{l})', () => {
  for (const model of [gemma2Tiny(), gemma3Tiny(), olmo2Tiny()]) {
    const name = String(model.config.model_type);
    const s = parseFamily(model.config);
    const rec = new Map<string, Mat>();
    const inputs = new Map<string, Mat>();
    familyForward(model.config, model.tensors, ids, { record: (n, o) => void rec.set(n, o), input: (dd, x) => (inputs.set(dd, x), x) });
    let resid = rec.get('input')!;
    for (let l = 0; l < s.L; l++) {
      close(inputs.get(`a${l}.h0<q>`)!, resid, 1e-12, `${name} resid ${l}`);
      const A = rec.get(`a${l}`)!;
      const heads = Array.from({ length: s.H }, (_, h) => rec.get(`a${l}.h${h}`)!);
      close(heads.reduce((acc, x) => acc.map((r, i) => r.map((v, j) => v + x[i][j]))), A, 1e-12, `${name} heads ${l}`);
      resid = resid.map((r, i) => r.map((v, j) => v + postAttentionNorm(model.config, model.tensors, l, A)[i][j]));
      close(inputs.get(`m${l}`)!, resid, 1e-12, `${name} mid ${l}`);
      resid = resid.map((r, i) => r.map((v, j) => v + rec.get(`m${l}`)![i][j]));
    }
    close(inputs.get('logits')!, resid, 1e-12, `${name} final`);
  }
  assert.throws(() => postAttentionNorm(llama3Tiny().config, llama3Tiny().tensors, 0, [new Float64Array(32)]));
});

test('Gemma defaults and layer patterns follow the configuration classes', () => {
  const g2 = gemma2Tiny().config;
  const s2 = parseFamily(g2);
  assert.deepEqual(s2.layerTypes, ['sliding_attention', 'full_attention']);
  assert.deepEqual(s2.windows, [3, null]);
  assert.equal(s2.scaling, 24 ** -0.5);
  assert.equal(s2.embedScale, Math.sqrt(32));
  const bare = { ...g2 };
  for (const k of ['attn_logit_softcapping', 'final_logit_softcapping', 'head_dim', 'query_pre_attn_scalar', 'tie_word_embeddings', 'sliding_window', 'rms_norm_eps', 'hidden_activation', 'hidden_act']) delete bare[k];
  const d2 = parseFamily(bare);
  assert.deepEqual([d2.attnSoftcap, d2.finalSoftcap, d2.hd, d2.scaling, d2.tied, d2.windows[0], d2.eps, d2.act], [50, 30, 256, 1 / 16, true, 4096, 1e-6, 'gelu_tanh']);
  const off = parseFamily(gemma2Tiny({ attnSoftcap: null, finalSoftcap: null }).config);
  assert.deepEqual([off.attnSoftcap, off.finalSoftcap], [null, null]);
  const capped = familyForward(g2, gemma2Tiny().tensors, ids);
  assert.ok(capped.every((r) => r.every((v) => Math.abs(v) < 3.5)));

  for (const v5 of [false, true]) {
    const s3 = parseFamily(gemma3Tiny({ v5 }).config);
    assert.deepEqual(s3.layerTypes, ['sliding_attention', 'full_attention', 'sliding_attention', 'full_attention']);
    assert.deepEqual(s3.windows, [3, null, 3, null]);
    assert.ok(Math.abs(s3.ropes[0].invFreq[1] - 100 ** (-2 / 16)) < 1e-15, 'local base');
    assert.ok(Math.abs(s3.ropes[1].invFreq[1] - 50000 ** (-2 / 16) / 2) < 1e-15, 'global base with linear factor 2');
    assert.equal(s3.attnSoftcap, null);
  }
  const g3 = { ...gemma3Tiny().config };
  for (const k of ['sliding_window_pattern', 'rope_theta', 'rope_local_base_freq', 'rope_scaling', 'final_logit_softcapping']) delete g3[k];
  const d3 = parseFamily({ ...g3, num_hidden_layers: 12 });
  assert.deepEqual(d3.layerTypes.map((x, i) => (x === 'full_attention' ? i : -1)).filter((i) => i >= 0), [5, 11]);
  assert.ok(Math.abs(d3.ropes[0].invFreq[1] - 1e4 ** (-2 / 16)) < 1e-15 && Math.abs(d3.ropes[5].invFreq[1] - 1e6 ** (-2 / 16)) < 1e-15);
  assert.equal(d3.finalSoftcap, null);
  // Gemma-3 ignores attn_logit_softcapping (HF never passes it to the attention function).
  const m = gemma3Tiny();
  close(familyForward({ ...m.config, attn_logit_softcapping: 0.5 }, m.tensors, ids), familyForward(m.config, m.tensors, ids), 0);
});

test('a window at least as long as the prompt is no window (Gemma-2, Gemma-3, Qwen3)', () => {
  const pairs: [TinyModel, TinyModel][] = [
    [gemma2Tiny({ slidingWindow: ids.length }), gemma2Tiny({ layerTypes: ['full_attention', 'full_attention'] })],
    [gemma3Tiny({ slidingWindow: 100 }), gemma3Tiny({ slidingWindow: 1 << 20 })],
    [qwen3Tiny({ slidingFrom: 1, slidingWindow: ids.length }), qwen3Tiny()],
  ];
  for (const [a, b] of pairs) close(familyForward(a.config, a.tensors, ids), familyForward(b.config, b.tensors, ids), 1e-12, String(a.config.model_type));
  assert.deepEqual(parseFamily(qwen3Tiny({ slidingFrom: 1 }).config).windows, [null, 3]);
  assert.deepEqual(parseFamily(qwen3Tiny().config).windows, [null, null]);
  const n3 = qwen3Tiny({ slidingFrom: 1 });
  assert.ok(maxDiff(familyForward(n3.config, n3.tensors, ids), familyForward(qwen3Tiny().config, n3.tensors, ids)) > 1e-4);
  const g3 = gemma3Tiny();
  assert.ok(maxDiff(familyForward(g3.config, g3.tensors, ids), familyForward(gemma3Tiny({ slidingWindow: 100 }).config, g3.tensors, ids)) > 1e-4);
});

test('OLMo clip_qkv clamps, OLMo and Qwen3 defaults', () => {
  const o = olmoTiny();
  const huge = familyForward({ ...o.config, clip_qkv: 1e9 }, o.tensors, ids);
  close(huge, familyForward({ ...o.config, clip_qkv: null }, o.tensors, ids), 0);
  assert.ok(maxDiff(huge, familyForward(o.config, o.tensors, ids)) > 1e-4, 'clip 0.6 bites');
  const q = { ...qwen3Tiny().config };
  for (const k of ['head_dim', 'rms_norm_eps', 'tie_word_embeddings', 'rope_theta']) delete q[k];
  const dq = parseFamily(q);
  assert.deepEqual([dq.hd, dq.eps, dq.tied, dq.ropes[0].invFreq.length], [128, 1e-6, false, 64]);
  const o2 = { ...olmo2Tiny().config };
  delete o2.rms_norm_eps;
  assert.equal(parseFamily(o2).eps, 1e-5);
  assert.equal(parseFamily(qwen3Tiny().config).hd, 12);
});

test('every family builder yields finite logits of the right shape', () => {
  for (const [name, build] of Object.entries(familyBuilders)) {
    const model = build();
    const logits = familyForward(model.config, model.tensors, ids);
    assert.equal(logits.length, ids.length, name);
    assert.ok(logits.every((r) => r.length === 512 && r.every(Number.isFinite)), name);
  }
});

/**
 * Logits of the default builders at vocab ids 0, 1, 2, 100, 300, 511 for every position of `ids`, computed
 * by transformers 5.18.0 itself (AutoModelForCausalLM, float64, eager attention) from checkpoints
 * written by writeCheckpoint; transformers 4.57.6 gives the same for the legacy configs. HF computes
 * cos/sin in float32, hence the 5e-6 tolerance. Regenerate if a builder's defaults change.
 */
const hfGolden: Record<string, number[][]> = {
  llama3: [
    [1.094844, 1.781407, -0.09875909, 0.6440503, 1.731499, 1.463548],
    [0.870659, 0.151277, 0.7245569, 0.2361128, -0.001512186, 0.7124669],
    [-0.09751492, 0.07033379, 0.05014115, 0.9504336, -0.09942758, 0.08833638],
    [-1.378005, 0.3100986, -0.8695432, 2.606953, -1.642724, -0.4183221],
    [-0.9589908, 0.7818043, -0.6889741, 1.823103, -0.5796792, -0.6781404],
    [-1.069927, 0.5965147, -0.232828, 1.808607, -0.6408568, -1.237982],
    [0.06431785, -0.005668005, -0.01903472, 1.624846, -1.430943, -1.53481],
    [-1.230637, -0.4381137, -1.090638, 2.378711, -1.30304, -1.130907],
  ],
  mistral: [
    [1.398555, 1.180668, 0.5630124, 1.499379, -1.28392, 0.1778453],
    [0.1139639, 1.838963, -0.9663671, 1.546058, 0.1284825, -0.00504672],
    [0.5076695, 0.5536141, -0.4130236, 0.1213899, -0.0368484, -0.2624347],
    [0.07647597, 0.402774, -1.334845, 0.4993417, 0.8192563, -0.6036773],
    [-0.5751969, -0.1244229, -1.214502, 1.054134, 0.2195339, -1.2085],
    [-0.4384677, 0.4318436, -0.690493, 1.979221, 0.2370539, -0.4446346],
    [0.7545353, 0.5683421, -0.07467448, 1.908986, -0.7084634, -0.1938618],
    [1.277025, 0.6324481, 1.052673, 1.508431, -1.750716, 0.1564264],
  ],
  qwen3: [
    [-0.9985457, 0.2071031, -0.1558438, -0.450681, -0.9615624, 0.844496],
    [0.257358, -1.088223, -0.3731269, -0.4431739, -0.3300788, 0.1988563],
    [0.8156963, -0.6682759, -0.8841875, -0.771627, 0.5139547, 1.241164],
    [0.5580068, -0.4952357, -0.961065, -0.02554966, -0.3547193, 0.5274526],
    [-1.159461, -1.533283, -0.2601805, -1.036159, 0.4128534, -0.7108145],
    [-0.6838764, -1.826181, -0.7508786, -0.384393, 0.3232214, -0.6383202],
    [-0.2622118, -2.222779, -0.6003272, -1.912382, -0.00227221, 0.0962116],
    [-0.07850273, -0.5229693, -1.039313, -1.602922, 0.2982082, 0.5186631],
  ],
  phi: [
    [-0.8795473, -0.4559056, -0.3443758, -2.07116, -0.8104796, 0.4559508],
    [-0.4504564, -1.224878, -0.1608702, -1.84546, -0.5092735, 0.384944],
    [-0.1399478, -1.029288, 0.1449747, -1.992008, -0.9870537, 0.6870583],
    [-0.7564855, -0.1615795, 0.4480364, -0.8386357, -0.8221735, 0.4440999],
    [-1.044741, 0.4234574, 0.2097231, -0.7233255, -1.167919, 1.216095],
    [0.6346044, -0.06931884, 1.046187, -0.5753177, -1.156005, -0.6361729],
    [0.2513844, 0.3339906, 0.1139962, -1.512082, -1.230787, -0.8845622],
    [0.1796957, -0.2163257, -0.5107242, -0.8896245, -2.221168, -0.6466289],
  ],
  gemma2: [
    [1.078434, -1.061341, 1.017325, 0.7102993, -0.9949946, 0.7946596],
    [0.4712628, 0.8159107, 0.949667, 1.048283, -0.265605, 0.6890426],
    [1.580569, -0.197908, 0.8656213, 0.7111631, 1.514628, 0.3573665],
    [0.9937386, -0.4727209, -0.5531977, 0.9763183, -0.6823237, 0.2452353],
    [0.7573986, 1.026971, -1.011073, 1.771893, -1.176218, 0.4754707],
    [-0.7175339, -0.52432, 0.8228339, 0.002818461, -2.491885, 0.3843668],
    [0.4001516, -0.2800984, -1.018504, -1.344931, -1.671942, -0.2430001],
    [0.6927967, 0.0435305, 0.8289174, 0.7239523, -1.937654, -0.3744166],
  ],
  gemma3: [
    [-0.1647156, 0.2866557, 0.6038059, -0.2577632, -1.444231, -1.164475],
    [0.261106, -0.2019361, -1.252537, 0.6723572, 0.1963976, -0.2067924],
    [-0.7318824, -0.4103458, -0.7765018, 0.400207, 1.296696, 1.482851],
    [-0.5162622, -0.7176504, -0.8616772, 0.4225314, 0.4704154, 1.498117],
    [0.3779557, -0.6472791, -0.6326644, 0.6256366, 1.285934, 1.664684],
    [0.3491488, -0.4058947, -0.2871027, 0.2701658, 0.8077981, 0.09311114],
    [-0.9697367, -0.5017982, -0.3533626, 0.5939445, 0.8065311, 0.0625321],
    [-0.3091085, -0.0279792, 0.1354137, 1.184677, 0.6543928, -0.09366496],
  ],
  olmo: [
    [-0.7936154, -0.3945363, -1.430166, 0.5027174, -1.522898, 1.635074],
    [-0.8078237, 2.045642, -0.48018, 0.8467326, 0.3443533, -0.01671342],
    [-0.3107089, -0.5287334, -0.9054266, -0.3048232, 0.4491645, -0.02218297],
    [0.02013441, 1.246994, 0.03358011, 0.0649507, 0.29092, 0.3487093],
    [-0.3995334, 1.747716, -0.01907265, 1.169895, 0.9389833, -0.3499425],
    [-0.9229885, -1.461041, -1.508472, -0.2602414, -0.281029, 0.8265147],
    [-1.712036, 0.1167222, -1.652282, 0.7891139, -0.2153864, 0.3978487],
    [-0.6282064, 0.1661299, -1.600538, 1.995767, -1.466968, 0.1237565],
  ],
  olmo2: [
    [0.08323854, -0.002803598, 1.427941, 0.04451435, -0.02964784, -1.204695],
    [0.856533, 0.3910039, 0.3894733, 0.2729378, 1.475185, -0.4677151],
    [0.6184791, 1.185667, 0.2620189, -0.3462531, 0.983732, 0.2295124],
    [-0.2838966, -0.3105379, -1.168095, -0.2951966, 0.5871553, 0.6473114],
    [0.4822487, 1.043757, -0.009176759, -0.9951755, 0.4484983, 0.07822452],
    [0.2276145, 1.244947, 0.7192145, 0.4103604, -0.008894149, -0.4861091],
    [-0.6189903, 0.4835749, 0.5241324, 0.1800425, -0.06434984, 0.2076402],
    [0.1475515, 1.006851, 0.5188662, 0.5883134, -0.7893059, 0.5874077],
  ],
};

test('the reference reproduces logits computed by transformers itself (legacy and v5 configs)', () => {
  const cols = [0, 1, 2, 100, 300, 511];
  for (const [name, want] of Object.entries(hfGolden)) {
    for (const v5 of [false, true]) {
      const model = familyBuilders[name]({ v5 });
      const got = familyForward(model.config, model.tensors, ids).map((r) => Float64Array.from(cols, (c) => r[c]));
      close(got, want.map((r) => Float64Array.from(r)), 5e-6, `${name}${v5 ? ' v5' : ''}`);
    }
  }
});
