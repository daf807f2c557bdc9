/**
 * The demo lab at tiny sizes: a GPT-2 series builds with the run folder layout the evolution reads,
 * the loss falls and Hit@10 on the trained facts rises across it, a second call reuses it without
 * training, the same seed and one thread give byte-identical weights, and the demo report has every
 * section and chart, with findings stated by their rules.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { endEpoch, makeGpt2Series, makeStoriesSeries, manifestFile, plateauCheckpoints, plateauEpoch, plateauRule, readLossHistory, type Acquisition } from '../../src/lab/demoLab';
import { listRunCheckpoints } from '../../src/engine/model/checkpoint';
import { defaultCacheDirName } from '../../src/engine/analysis/cache';
import { demoReportPointer, runDemo } from '../../src/lab/report/demo';
import { chartFiles, writeLabReport, type SeriesReportInput } from '../../src/lab/report/labReport';
import { stories260K, tmpDir } from '../helpers/tinyModels';

/** Small enough to train in a few seconds, large enough to learn some facts. */
const tiny = {
  nNew: 24,
  nRevised: 8,
  rate: 0.15,
  poolSize: 24,
  vocabSize: 600,
  nLayer: 2,
  nHead: 2,
  nEmbd: 32,
  nPositions: 64,
  checkpoints: 2,
  epochsPerCheckpoint: 6,
  batchSize: 4,
  blockSize: 64,
  learningRate: 1e-2,
} as const;

/** Pooled share over groups, weighted by prompts. */
function pooled(a: Acquisition, which: 'top1' | 'hit10', t: number): number {
  let s = 0;
  let n = 0;
  for (const g of a.groups) {
    s += a[which][t][g] * a.counts[g];
    n += a.counts[g];
  }
  return s / n;
}

const safetensors = (runDir: string) => listRunCheckpoints(runDir).map((c) => fs.readFileSync(path.join(c.dir, 'model.safetensors')));

test('a tiny GPT-2 series: layout, falling loss, rising Hit@10, reuse without training, and byte-identical weights for one seed', async () => {
  const dir = tmpDir('cs-demolab-');
  const t0 = performance.now();
  const r = await makeGpt2Series(dir, { ...tiny, seed: 5, threads: 1 });
  const cold = (performance.now() - t0) / 1000;
  assert.equal(r.reused, false);
  assert.equal(r.runDir, path.join(dir, 'gpt2-synthetic'));

  // Layout: checkpoints every epochsPerCheckpoint epochs, tokenizer and dataset in the run folder.
  const ckpts = listRunCheckpoints(r.runDir);
  assert.equal(ckpts.length, 3);
  assert.deepEqual(
    r.manifest.checkpoints.map((c) => c.epoch),
    [1, 6, 12],
  );
  assert.deepEqual(
    ckpts.map((c) => c.step),
    r.manifest.checkpoints.map((c) => c.step),
  );
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'train.jsonl', 'entities.jsonl', 'test.jsonl', 'dataset.json', 'trainer_state.json', manifestFile, 'prompts/city.jsonl', 'prompts/company.jsonl', 'prompts/major.jsonl']) {
    assert.ok(fs.existsSync(path.join(r.runDir, f)), `${f} missing from the run folder`);
  }
  assert.equal(r.promptsFile, path.join(r.runDir, 'prompts', 'city.jsonl'));
  for (const c of ckpts) for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'trainer_state.json']) assert.ok(fs.existsSync(path.join(c.dir, f)), `${f} missing from ${c.dir}`);
  assert.deepEqual(fs.readdirSync(r.runDir).filter((f) => f.startsWith('.')), [], 'no temporary folders left behind');

  // Every attribute value has its own first token; the city prompts cover both types.
  const pools = r.manifest.dataset.poolSizes;
  assert.ok(pools.city >= 10 && pools.company >= 10 && pools.major >= 10, JSON.stringify(pools));
  assert.ok(r.manifest.dataset.circuitPrompts.city >= 10, JSON.stringify(r.manifest.dataset.circuitPrompts));

  // The loss falls; Hit@10 and first-token accuracy on the trained facts rise.
  const loss = readLossHistory(r.runDir);
  assert.ok(loss.length >= 6);
  assert.ok(loss.at(-1)!.loss < 0.5 * loss[0].loss, `loss ${loss[0].loss} -> ${loss.at(-1)!.loss}`);
  const a = r.manifest.acquisition;
  const h = [0, 1, 2].map((t) => pooled(a, 'hit10', t));
  const acc = [0, 1, 2].map((t) => pooled(a, 'top1', t));
  console.log(`tiny series: ${cold.toFixed(1)} s; Hit@10 ${h.map((x) => x.toFixed(2)).join(' ')}, accuracy ${acc.map((x) => x.toFixed(2)).join(' ')}, loss ${loss[0].loss.toFixed(2)} -> ${loss.at(-1)!.loss.toFixed(2)}`);
  assert.ok(h[2] >= h[0] + 0.2 && h[2] >= 0.6, `Hit@10 does not rise: ${h}`);
  assert.ok(acc[2] > acc[0] && acc[2] > 2 / pools.city, `accuracy does not rise well above chance (1/${pools.city}): ${acc}`);

  // Reuse: nothing is trained or rewritten.
  const mtimes = ckpts.map((c) => fs.statSync(path.join(c.dir, 'model.safetensors')).mtimeMs);
  const again = await makeGpt2Series(dir, { ...tiny, seed: 5, threads: 1 });
  assert.equal(again.reused, true);
  assert.deepEqual(again.manifest, r.manifest);
  assert.deepEqual(
    ckpts.map((c) => fs.statSync(path.join(c.dir, 'model.safetensors')).mtimeMs),
    mtimes,
  );
  assert.ok(again.seconds < cold / 3, `reuse took ${again.seconds} s against ${cold} s to build`);

  // Other settings, or a changed checkpoint, rebuild.
  const first = safetensors(r.runDir);
  const other = await makeGpt2Series(dir, { ...tiny, seed: 5, threads: 1, learningRate: 5e-3 });
  assert.equal(other.reused, false);
  assert.notEqual(other.manifest.settingsHash, r.manifest.settingsHash);

  // Determinism: the same seed and thread count give the same bytes, in another folder.
  const dir2 = tmpDir('cs-demolab-');
  const twin = await makeGpt2Series(dir2, { ...tiny, seed: 5, threads: 1 });
  assert.equal(twin.reused, false);
  const second = safetensors(twin.runDir);
  assert.equal(second.length, first.length);
  first.forEach((b, i) => assert.ok(b.equals(second[i]), `checkpoint ${i} differs between two builds with seed 5`));
  for (const f of ['train.jsonl', 'prompts/city.jsonl', 'tokenizer.json']) {
    assert.ok(fs.readFileSync(path.join(dir2, 'gpt2-synthetic', f)).equals(fs.readFileSync(path.join(dir, 'gpt2-synthetic', f))), `${f} differs`);
  }
  assert.deepEqual(twin.manifest.acquisition, r.manifest.acquisition);
  const seed6 = await makeGpt2Series(tmpDir('cs-demolab-'), { ...tiny, seed: 6, threads: 1 });
  assert.ok(!safetensors(seed6.runDir)[0].equals(first[0]), 'another seed gave the same weights');
});

test('the stories260K series is made from the base model, and skipped without it', async (t) => {
  const dir = tmpDir('cs-demolab-');
  assert.equal(await makeStoriesSeries(dir, { baseModel: path.join(dir, 'missing') }), undefined);
  if (!fs.existsSync(path.join(stories260K, 'config.json'))) {
    t.skip('../shared/models/stories260K is not there');
    return;
  }
  const r = await makeStoriesSeries(dir, { baseModel: stories260K, nNew: 10, nRevised: 6, rate: 0.3, checkpoints: 1, epochsPerCheckpoint: 2, threads: 1, seed: 3 });
  assert.ok(r);
  assert.equal(r.runDir, path.join(dir, 'stories260k-cpt'));
  const ckpts = listRunCheckpoints(r.runDir);
  assert.equal(ckpts.length, 2);
  // The base tokenizer travels with each checkpoint; the dataset is chosen under it.
  assert.ok(fs.existsSync(path.join(ckpts[0].dir, 'tokenizer.json')));
  assert.equal(r.manifest.dataset.poolSizes.city, 12);
  assert.ok((r.manifest.settings.base as { contentHash: string }).contentHash.length > 0);
  assert.equal((await makeStoriesSeries(dir, { baseModel: stories260K, nNew: 10, nRevised: 6, rate: 0.3, checkpoints: 1, epochsPerCheckpoint: 2, threads: 1, seed: 3 }))!.reused, true);
});

/** A crude well-formedness check: one root <svg>, every tag closed in order. */
function assertXmlish(file: string): void {
  const text = fs.readFileSync(file, 'utf8');
  assert.match(text, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/, file);
  const stack: string[] = [];
  for (const m of text.matchAll(/<(\/?)([a-zA-Z][\w-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (selfClosing) continue;
    if (closing) assert.equal(stack.pop(), name, `${file}: </${name}> closes the wrong tag`);
    else stack.push(name);
  }
  assert.deepEqual(stack, [], `${file}: unclosed tags`);
  assert.ok(!/NaN|undefined|Infinity/.test(text.replace(/<title>[^<]*<\/title>/g, '')), `${file}: a value did not render`);
}

test('the demo writes the report with every section and chart, and the findings by their stated rules', async () => {
  const out = tmpDir('cs-demo-out-');
  const work = tmpDir('cs-demo-work-');
  const r = await runDemo({ outDir: out, workDir: work, threads: 1, seed: 5, gpt2: tiny, stories: false, circuit: false, evolve: { batchSize: 16 } });
  const text = fs.readFileSync(r.report, 'utf8');
  const headings = text.split('\n').filter((l) => l.startsWith('#'));
  for (const h of [
    '# Circuitscope demo: how knowledge circuits form during training',
    '## Summary of the findings',
    '## Series (a): a small GPT-2 trained from scratch on synthetic biographies',
    '### Training',
    '### Knowledge acquisition per type and frequency',
    '### Circuit topology',
    '### Components',
    '## Findings',
    '### 1. Knowledge related to existing knowledge is acquired faster; higher frequency gives better circuits',
    '### 2. Phase shift from formation to optimization',
    '### 3. Deep-to-shallow',
  ]) {
    assert.ok(headings.includes(h), `missing heading ${h}; have:\n${headings.join('\n')}`);
  }
  for (const f of Object.values(chartFiles('gpt2-synthetic'))) {
    assert.ok(text.includes(`](${f})`), `${f} is not linked from the report`);
    assertXmlish(path.join(out, f));
  }
  for (const rule of ['Rule: Finding 1', 'Rule: Finding 2', 'Rule: Finding 3']) assert.ok(text.includes(rule), rule);
  for (const k of ['knowledge', 'phaseShift', 'deepToShallow'] as const) {
    assert.equal(r.findings[k].length, 1);
    assert.match(r.findings[k][0].verdict, /^(reproduces|does not reproduce|partly reproduces)$/);
    assert.ok(text.includes(`: ${r.findings[k][0].verdict}.**`), `${k} verdict is not in the report`);
  }
  // Three checkpoints leave the detector too few points, which the report says rather than hides.
  assert.equal(r.evolutions[0].phaseShift, undefined);
  assert.ok(text.includes('Detected phase shift: none'));
  assert.equal(r.findings.phaseShift[0].verdict, 'does not reproduce');
  assert.ok(/Skipped:[\s\S]*stories260K/.test(text), 'the skipped series is named');
  assert.ok(!text.includes(work) && !text.includes(out), 'the report holds no absolute paths');
  assert.ok(fs.existsSync(path.join(out, 'timings.json')));
  // The work folder names the report, for the extension's "Demo report" item.
  assert.equal(path.resolve(work, JSON.parse(fs.readFileSync(path.join(work, demoReportPointer), 'utf8')).report), r.report);

  // A second run reuses the series and every evolve result, transplant evaluations included: the
  // cache folder is read, not written, and the report is the same bytes.
  const cacheDir = path.join(r.series[0].runDir, defaultCacheDirName);
  const snapshot = () => fs.readdirSync(cacheDir).sort().map((f) => `${f} ${fs.statSync(path.join(cacheDir, f)).mtimeMs}`);
  const before = snapshot();
  assert.ok(before.length > 2 * r.evolutions[0].checkpoints.length, `the cache holds more than the circuits and analyses: ${before.length} files`);
  const again = await runDemo({ outDir: out, workDir: work, threads: 1, seed: 5, gpt2: tiny, stories: false, circuit: false, evolve: { batchSize: 16 } });
  assert.equal(again.series[0].reused, true);
  assert.equal(again.evolutions[0].cacheHits, again.evolutions[0].checkpoints.length);
  assert.deepEqual(snapshot(), before);
  assert.equal(fs.readFileSync(again.report, 'utf8'), text);

  // With a detected shift (injected here), the chart marks it and the transplant rows are labelled.
  const e = r.evolutions[0];
  const input: SeriesReportInput = {
    id: 'shifted',
    title: 'Shifted',
    about: ['A copy with a phase shift.'],
    manifest: r.series[0].manifest,
    evolve: {
      ...e,
      phaseShift: { index: 1, step: e.checkpoints[1].step, score: 0.3, rule: 'test' },
      transplant: {
        sources: [0, 1, 2],
        hit10: [e.transplant.hit10[0], e.checkpoints.map((c) => c.hit10), e.transplant.hit10.at(-1)!],
        faithfulness: [e.transplant.faithfulness[0], e.checkpoints.map((c) => c.faithfulness), e.transplant.faithfulness.at(-1)!],
      },
    },
    loss: readLossHistory(r.series[0].runDir),
  };
  const out2 = tmpDir('cs-demo-out-');
  const w = writeLabReport(out2, { series: [input], preamble: [] });
  const text2 = fs.readFileSync(w.report, 'utf8');
  assert.ok(text2.includes('Detected phase shift: epoch 6'), text2);
  assert.ok(text2.includes('(after shift)') && text2.includes('(first)') && text2.includes('(last)'));
  assert.ok(fs.readFileSync(path.join(out2, 'shifted-jaccard.svg'), 'utf8').includes('phase shift (epoch 6)'));
  for (const f of w.files.filter((x) => x.endsWith('.svg'))) assertXmlish(f);

  // The same inputs give the same bytes.
  const out3 = tmpDir('cs-demo-out-');
  writeLabReport(out3, { series: [input], preamble: [] });
  for (const f of fs.readdirSync(out2)) assert.ok(fs.readFileSync(path.join(out2, f)).equals(fs.readFileSync(path.join(out3, f))), `${f} differs between two writes`);
});

test('the plateau rule and the checkpoint schedule of the full profile', () => {
  const p = { window: 3, minRise: 0.02, minAccuracy: 0.5, afterFactor: 0.5, minAfter: 4, maxEpochs: 40, formationCheckpoints: 4, afterCheckpoints: 3 };
  // Flat at 0 is no plateau (not acquired); rising, then flat from epoch 6 on: plateau when 3 epochs add < 0.02.
  assert.equal(plateauEpoch([0, 0, 0, 0, 0, 0, 0], p), undefined);
  assert.equal(plateauEpoch([0.1, 0.3, 0.5, 0.7, 0.8, 0.85, 0.86, 0.85, 0.86, 0.86], p), 9);
  assert.equal(endEpoch(9, p), 9 + 5);
  assert.equal(endEpoch(4, p), 8);
  assert.equal(endEpoch(38, p), 40);
  assert.deepEqual(plateauCheckpoints(9, 14, p), [1, 2, 5, 7, 9, 11, 12, 14]);
  assert.deepEqual(plateauCheckpoints(3, 7, p), [1, 2, 3, 4, 6, 7]);
  assert.deepEqual(plateauCheckpoints(undefined, 40, p), [1, 10, 20, 30, 40]);
  assert.match(plateauRule(p), /running maximum/);
});

test('the full profile: trained to the plateau, checkpoints dense then sparse, statistics beside finding 1', async () => {
  const out = tmpDir('cs-demo-full-');
  const plateau = { window: 2, minRise: 0.05, minAccuracy: 0.3, afterFactor: 0.5, minAfter: 3, maxEpochs: 30, formationCheckpoints: 3, afterCheckpoints: 3 };
  const r = await runDemo({ outDir: out, threads: 1, seed: 5, profile: 'full', gpt2: { ...tiny, plateau }, stories: false, circuit: false, evolve: { batchSize: 16 } });
  const m = r.series[0].manifest;
  const rec = m.plateau!;
  assert.ok(rec, 'the manifest records the plateau schedule');
  assert.equal(rec.highAccuracy.length, rec.lastEpoch);
  const P = rec.plateauEpoch ?? undefined;
  assert.equal(P, plateauEpoch(rec.highAccuracy, plateau));
  if (P !== undefined) assert.equal(rec.lastEpoch, endEpoch(P, plateau));
  assert.deepEqual(
    m.checkpoints.map((c) => c.epoch),
    plateauCheckpoints(P, rec.lastEpoch, plateau),
  );
  assert.equal(listRunCheckpoints(r.series[0].runDir).length, m.checkpoints.length, 'checkpoints outside the schedule are deleted');
  assert.equal(m.acquisition.rows?.length, m.acquisition.groups.reduce((n, g) => n + m.acquisition.counts[g], 0));
  const text = fs.readFileSync(r.report, 'utf8');
  assert.ok(text.includes('### Training to the plateau (full profile)'));
  assert.ok(text.includes('--profile full'));
  assert.ok(text.includes('](gpt2-synthetic-plateau.svg)'));
  assertXmlish(path.join(out, 'gpt2-synthetic-plateau.svg'));
  assert.match(text, /revised − new [+-]\d\.\d{3} \(95% CI /);
  assert.match(text, /one-sided permutation p (=\s\d\.\d{3}|< 0\.001)/);
  assert.ok(r.files.includes(path.join(out, 'gpt2-synthetic-plateau.svg')));

  // Determinism: the same seed and thread count give the same schedule, weights and report in other folders.
  const out2 = tmpDir('cs-demo-full-');
  const twin = await runDemo({ outDir: out2, threads: 1, seed: 5, profile: 'full', gpt2: { ...tiny, plateau }, stories: false, circuit: false, evolve: { batchSize: 16 } });
  assert.equal(twin.series[0].reused, false);
  assert.deepEqual(twin.series[0].manifest.plateau, rec);
  assert.equal(fs.readFileSync(twin.report, 'utf8'), text);
  const weights = safetensors(r.series[0].runDir);
  safetensors(twin.series[0].runDir).forEach((b, i) => assert.ok(b.equals(weights[i]), `checkpoint ${i} differs between two full-profile builds`));
});
