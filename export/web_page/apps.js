// Per-task decoding and drawing, one entry per edgesuite task (the metadata's "task"). Each entry mirrors the
// app's numpy postprocess.py and shows what `edgesuite predict` prints:
//   input:   "image" (pixels at the model's size) or "text"
//   predict: (model, input) -> result, the model's outputs decoded
//   record:  result -> what the check compares with edgesuite's own runtime (window.__results)
//   show:    (result, input, element) -> draws it for a person
import { WordPieceEncoder, detokenize, stripIds } from "./text.js";

const f32 = Math.fround; // the numpy decoding runs in float32: the same roundings here

function topK(probs, names, k = 3) { // common/decode.py top_k_labels
  const order = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a] || a - b).slice(0, k);
  return order.map((i) => ({ label: names[i], class_id: i, probability: probs[i] }));
}

function argmax(values, start = 0, count = values.length) {
  let best = 0;
  for (let i = 1; i < count; i++) if (values[start + i] > values[start + best]) best = i;
  return best;
}

function imageTensor(model, input) {
  const [s, , c] = model.meta.input.shape;
  return new model.ort.Tensor("uint8", input.pixels, [1, s, s, c]);
}

function base64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return btoa(text);
}

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, v));
  if (text) node.textContent = text;
  return node;
}

function showTopK(result, element) {
  const list = el("ol", { class: "topk" });
  for (const t of result.top_k) {
    const item = el("li");
    item.append(el("span", { class: "label" }, t.label), el("span", { class: "bar", style: `width:${Math.round(t.probability * 200)}px` }),
      el("span", { class: "prob" }, t.probability.toFixed(3)));
    list.append(item);
  }
  element.append(list);
}

// the input image at a readable size, in its own proportions: a person's picture, or the pixels the model saw
function picture(input, side = 320, drawn = null) {
  const own = input.bitmap || input.canvas;
  const canvas = el("canvas", { width: side, height: Math.round((side * own.height) / own.width) });
  const pen = canvas.getContext("2d");
  pen.imageSmoothingEnabled = Boolean(input.bitmap) && !drawn;
  pen.drawImage(drawn || own, 0, 0, canvas.width, canvas.height);
  return canvas;
}

// ---- classifiers (apps/image_classification, apps/text_classification postprocess.py) ----
const imageClassifier = {
  input: "image",
  async predict(model, input) {
    const probs = (await model.run({ [model.inputs[0]]: imageTensor(model, input) })).data;
    return { probs: Float32Array.from(probs), top_k: topK(probs, model.meta.class_names) };
  },
  record: (r) => ({ probs: Array.from(r.probs) }),
  show(r, input, element) {
    element.append(picture(input, 192));
    showTopK(r, element);
  },
};

const textClassifier = {
  input: "text",
  async predict(model, text) {
    model.encoder = model.encoder || new WordPieceEncoder(model.meta.tokenizer, model.meta.web.casefold);
    const ids = model.encoder.encode(text);
    const probs = (await model.run({ [model.inputs[0]]: new model.ort.Tensor("int32", ids, [1, ids.length]) })).data;
    return { probs: Float32Array.from(probs), token_ids: Array.from(ids), top_k: topK(probs, model.meta.class_names) };
  },
  record: (r) => ({ probs: Array.from(r.probs), token_ids: r.token_ids }),
  show(r, text, element) {
    element.append(el("blockquote", {}, text));
    showTopK(r, element);
  },
};

// ---- detector (apps/object_detection/postprocess.py: decode, candidates, nms) ----
function iou(a, b) {
  const areaA = Math.max(a[2] - a[0], 0) * Math.max(a[3] - a[1], 0);
  const areaB = Math.max(b[2] - b[0], 0) * Math.max(b[3] - b[1], 0);
  if (areaA <= 0 || areaB <= 0) return 0;
  const iw = Math.max(Math.min(a[2], b[2]) - Math.max(a[0], b[0]), 0);
  const ih = Math.max(Math.min(a[3], b[3]) - Math.max(a[1], b[1]), 0);
  const inter = iw * ih;
  return inter / Math.max(areaA + areaB - inter, 1e-12);
}

export function detections(p, meta) {
  const post = meta.postprocessing_params, k = meta.class_names.length, width = 5 + k;
  const cells = p.length / width, g = Math.round(Math.sqrt(cells));
  const boxes = [], scores = new Float32Array(cells * k);
  const clip = (v) => Math.min(Math.max(v, 0), 1);
  for (let l = 0; l < cells; l++) {
    const cy = f32(f32(Math.floor(l / g) + 0.5) / g), cx = f32(f32((l % g) + 0.5) / g), o = l * width;
    boxes.push([clip(f32(cx - p[o])), clip(f32(cy - p[o + 1])), clip(f32(cx + p[o + 2])), clip(f32(cy + p[o + 3]))]);
    for (let c = 0; c < k; c++) scores[l * k + c] = f32(Math.sqrt(f32(p[o + 4 + c] * p[o + 4 + k])));
  }
  // postprocess.candidate_count: the best candidates_per_detection (4 before it) x max_detections (point, class)
  // pairs, best first, ties to the lower index
  const count = Math.min(scores.length, (post.candidates_per_detection ?? 4) * post.max_detections);
  const top = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a] || a - b).slice(0, count);
  const cand = top.map((i) => ({ box: boxes[Math.floor(i / k)], score: scores[i], cls: i % k }));
  // greedy class-aware NMS over the candidates above the score threshold
  const order = cand.map((c, i) => i).filter((i) => cand[i].score > post.score_threshold)
    .sort((a, b) => cand[b].score - cand[a].score || a - b);
  const alive = order.map(() => true), keep = [];
  for (let i = 0; i < order.length && keep.length < post.max_detections; i++) {
    if (!alive[i]) continue;
    const mine = cand[order[i]];
    keep.push(mine);
    for (let j = 0; j < order.length; j++) {
      const other = cand[order[j]];
      if (alive[j] && other.cls === mine.cls && iou(mine.box, other.box) > post.iou_threshold) alive[j] = false;
    }
  }
  return keep.map((d) => ({ label: meta.class_names[d.cls], class_id: d.cls, score: d.score, box: d.box }));
}

export function colours(n) { // postprocess.colours: hues around the circle
  return Array.from({ length: n }, (_, i) => {
    const h = (i / Math.max(n, 1)) * 6, s = 0.85, v = 1.0, f = h - Math.floor(h);
    const [p, q, t] = [v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))];
    const rgb = [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]][Math.floor(h) % 6];
    return `rgb(${rgb.map((x) => Math.floor(255 * x)).join(",")})`;
  });
}

const detector = {
  input: "image",
  async predict(model, input) {
    const p = (await model.run({ [model.inputs[0]]: imageTensor(model, input) })).data;
    return { objects: detections(p, model.meta) };
  },
  record: (r) => ({ boxes: r.objects.map((o) => o.box), scores: r.objects.map((o) => o.score),
    classes: r.objects.map((o) => o.class_id) }),
  show(r, input, element, meta) {
    const canvas = picture(input), pen = canvas.getContext("2d"), [w, h] = [canvas.width, canvas.height];
    const palette = colours(meta.class_names.length);
    pen.lineWidth = 2;
    pen.font = "13px sans-serif";
    const shown = r.objects.filter((o) => o.score >= 0.3); // postprocess.describe's min_score
    for (const o of shown) {
      const [x1, y1, x2, y2] = o.box.map((v, i) => v * (i % 2 ? h : w));
      pen.strokeStyle = pen.fillStyle = palette[o.class_id % palette.length];
      pen.strokeRect(x1, y1, Math.max(x2 - x1 - 1, 0), Math.max(y2 - y1 - 1, 0));
      pen.fillText(`${o.label} ${o.score.toFixed(2)}`, x1 + 2, y1 + 13);
    }
    element.append(canvas, el("p", {}, shown.length ? shown.map((o) => `${o.label} ${o.score.toFixed(2)}`).join("; ")
      + ` (${shown.length} of ${r.objects.length} scoring >= 0.3)` : `nothing (0 of ${r.objects.length} scoring >= 0.3)`));
  },
};

// ---- segmenter (apps/segmentation/postprocess.py: argmax, shares, VOC palette overlay) ----
export function vocPalette(n = 256) {
  return Array.from({ length: n }, (_, i) => {
    let c = i, r = 0, g = 0, b = 0;
    for (let j = 0; j < 8; j++) {
      r |= ((c >> 0) & 1) << (7 - j); g |= ((c >> 1) & 1) << (7 - j); b |= ((c >> 2) & 1) << (7 - j);
      c >>= 3;
    }
    return [r, g, b];
  });
}

const segmenter = {
  input: "image",
  async predict(model, input) {
    const probs = (await model.run({ [model.inputs[0]]: imageTensor(model, input) })).data;
    const k = model.meta.class_names.length, n = probs.length / k;
    const classMap = new Uint8Array(n), counts = new Array(k).fill(0);
    let confidence = 0;
    for (let i = 0; i < n; i++) {
      const c = argmax(probs, i * k, k);
      classMap[i] = c;
      counts[c]++;
      confidence += probs[i * k + c];
    }
    const classes = Array.from(counts.keys()).filter((c) => counts[c]).sort((a, b) => counts[b] - counts[a] || a - b)
      .map((c) => ({ label: model.meta.class_names[c], share: counts[c] / n }));
    return { class_map: classMap, classes, confidence: confidence / n };
  },
  record: (r) => ({ class_map: base64(r.class_map) }),
  show(r, input, element, meta) {
    const s = meta.input.shape[0], palette = vocPalette();
    const canvas = el("canvas", { width: s, height: s }), pen = canvas.getContext("2d");
    pen.drawImage(input.canvas, 0, 0); // the pixels the model saw, with the class map over them
    const image = pen.getImageData(0, 0, s, s);
    for (let i = 0; i < s * s; i++) {
      const c = r.class_map[i];
      if (!c) continue;
      for (let ch = 0; ch < 3; ch++) image.data[4 * i + ch] = Math.round(0.45 * image.data[4 * i + ch] + 0.55 * palette[c][ch]);
    }
    pen.putImageData(image, 0, 0);
    const big = picture(input, 320, canvas); // at the input's proportions, the class map's pixels kept sharp
    element.append(big, el("p", {}, r.classes.slice(0, 5).map((c) => `${c.label} ${(100 * c.share).toFixed(1)}%`).join(", ")));
  },
};

// ---- translator (apps/translation/postprocess.py run: greedy decoding over the step model) ----
// what beam_search with beam size 1 bans: the token that ran max_run times in a row, and every token that
// followed an earlier occurrence of the last no_repeat_ngram - 1 tokens (postprocess.banned_next)
export function bannedNext(tokens, rules) {
  const out = new Set(), run = rules.max_run || 0, n = rules.no_repeat_ngram || 0;
  if (run && tokens.length >= run && new Set(tokens.slice(-run)).size === 1) out.add(tokens[tokens.length - 1]);
  if (n && tokens.length >= n - 1) {
    const last = tokens.slice(tokens.length - (n - 1)).join(",");
    for (let j = 0; j < tokens.length - (n - 1); j++) {
      if (tokens.slice(j, j + n - 1).join(",") === last) out.add(tokens[j + n - 1]);
    }
  }
  return out;
}

const translator = {
  input: "text",
  async predict(model, text) {
    const meta = model.meta, maxLength = meta.max_length, start = meta.start_id, end = meta.end_id;
    const rules = meta.decoding || {}; // the export's decoding rules; none in a file exported before them
    model.encoder = model.encoder || new WordPieceEncoder(meta.source_tokenizer, meta.web.casefold);
    if (!text.trim()) return { ids: [], translation: "" }; // an empty text translates to an empty text
    const encoded = model.encoder.encode(text);
    const length = Math.max(1, encoded.filter((i) => i > 0).length);
    // postprocess.length_limits: the most pieces before [END] is forced
    const limit = rules.length_ratio_pct
      ? Math.min(maxLength - 1, Math.floor((rules.length_ratio_pct * length + 99) / 100) + rules.length_extra) : maxLength;
    const source = new model.ort.Tensor("int32", encoded.slice(0, length), [1, length]);
    const tokens = [];
    for (let t = 0; t < maxLength; t++) {
      const prefix = Int32Array.from([start, ...tokens]);
      const target = new model.ort.Tensor("int32", prefix, [1, prefix.length]);
      const probs = (await model.run({ [model.inputs[0]]: source, [model.inputs[1]]: target })).data;
      const vocab = probs.length / prefix.length, row = Float64Array.from(probs.subarray(t * vocab, (t + 1) * vocab));
      row[0] = row[start] = -Infinity; // never padding, never a second [START]
      if (tokens.length >= limit) row.fill(-Infinity).fill(1, end, end + 1);
      else bannedNext(tokens, rules).forEach((k) => { row[k] = -Infinity; });
      const next = argmax(row);
      tokens.push(next);
      if (next === end) break;
    }
    return { ids: tokens, translation: detokenize(tokens, meta.target_tokenizer.vocab, start, end) };
  },
  record: (r) => ({ ids: r.ids, translation: r.translation }),
  show(r, text, element) {
    element.append(el("blockquote", {}, text), el("p", { class: "translation" }, r.translation || "(nothing)"));
  },
};

export const APPS = {
  "image-classification": imageClassifier,
  "text-classification": textClassifier,
  "object-detection": detector,
  segmentation: segmenter,
  translation: translator,
};

export { stripIds };
