// The page: loads metadata.json and the model into ONNX Runtime Web (wasm, vendored in runtime/), takes an
// image or a text from a person, and shows the app's decoded result (apps.js). With ?check=INPUTS it runs
// every input of that JSON file instead and leaves the results in window.__results, which edgesuite's
// exporter compares with its own runtime on the same file (export/web.py).
import * as ort from "./runtime/ort.wasm.min.mjs";
import { APPS } from "./apps.js";

const started = performance.now();
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

function status(text) { $("status").textContent = text; }

async function loadModel() {
  const meta = await (await fetch("metadata.json")).json();
  ort.env.wasm.wasmPaths = new URL("runtime/", location.href).href;
  ort.env.wasm.numThreads = 1; // a static server sends no COOP/COEP headers: no SharedArrayBuffer, one thread
  const session = await ort.InferenceSession.create(meta.web.model, { executionProviders: ["wasm"] });
  return {
    ort, meta, inputs: meta.web.inputs,
    async run(feeds) { return (await session.run(feeds, [meta.web.output]))[meta.web.output]; },
  };
}

// pixels at the model's size (what it takes) and a canvas of them; grey as PIL's "L" makes it
function fromRGBA(rgba, meta) {
  const [s, , c] = meta.input.shape, pixels = new Uint8Array(s * s * c);
  for (let i = 0; i < s * s; i++) {
    const [r, g, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
    if (c === 1) pixels[i] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
    else pixels.set([r, g, b], 3 * i);
  }
  return pixels;
}

function canvasOf(pixels, meta) {
  const [s, , c] = meta.input.shape, canvas = document.createElement("canvas");
  canvas.width = canvas.height = s;
  const pen = canvas.getContext("2d"), image = pen.createImageData(s, s);
  for (let i = 0; i < s * s; i++) {
    const rgb = c === 1 ? [pixels[i], pixels[i], pixels[i]] : pixels.subarray(3 * i, 3 * i + 3);
    image.data.set([...rgb, 255], 4 * i);
  }
  pen.putImageData(image, 0, 0);
  return canvas;
}

async function imageFromFile(file, meta) {
  const bitmap = await createImageBitmap(file), s = meta.input.shape[0];
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = s;
  const pen = canvas.getContext("2d");
  pen.imageSmoothingQuality = "high"; // stretched to the model's square, as edgesuite predict resizes
  pen.drawImage(bitmap, 0, 0, s, s);
  const pixels = fromRGBA(pen.getImageData(0, 0, s, s).data, meta);
  return { pixels, canvas: canvasOf(pixels, meta), bitmap };
}

function decodeBase64(text) {
  return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
}

async function predictAndShow(model, app, input) {
  const t0 = performance.now();
  const result = await app.predict(model, input);
  const ms = performance.now() - t0;
  const out = $("output");
  out.replaceChildren();
  app.show(result, input, out, model.meta);
  return { result, ms };
}

function inputForm(model, app) {
  const form = $("input");
  if (app.input === "image") {
    const picker = Object.assign(document.createElement("input"), { type: "file", accept: "image/*" });
    picker.addEventListener("change", async () => {
      if (!picker.files.length) return;
      const { ms } = await predictAndShow(model, app, await imageFromFile(picker.files[0], model.meta));
      status(`${runtimeLine(model)} · ${ms.toFixed(1)} ms`);
    });
    form.append("Pick an image: ", picker);
  } else {
    const box = Object.assign(document.createElement("textarea"), { rows: 3, cols: 60, placeholder: "Type a text" });
    const go = Object.assign(document.createElement("button"), { textContent: "Run" });
    go.addEventListener("click", async () => {
      const { ms } = await predictAndShow(model, app, box.value);
      status(`${runtimeLine(model)} · ${ms.toFixed(1)} ms`);
    });
    form.append(box, go);
  }
}

function runtimeLine(model) {
  return `${model.meta.web.runtime} ${model.meta.web.runtime_version} (wasm, 1 thread)`;
}

// ?check=INPUTS: every input through the page's own code; ?repeat=N: then the first one N times more (latency)
async function check(model, app, url) {
  const given = await (await fetch(url)).json();
  const inputs = given.texts || given.images.map((b) => {
    const pixels = decodeBase64(b);
    return { pixels, canvas: canvasOf(pixels, model.meta) };
  });
  const items = [], times = [];
  let firstResult = null;
  for (const input of inputs) {
    const t0 = performance.now();
    const result = await app.predict(model, input);
    times.push(performance.now() - t0);
    firstResult = firstResult ?? performance.now() - started;
    items.push(app.record(result));
  }
  const repeat = Number(params.get("repeat") || 0), latency = [];
  for (let i = 0; i < repeat && inputs.length; i++) {
    const t0 = performance.now();
    await app.predict(model, inputs[0]);
    latency.push(performance.now() - t0);
  }
  const shown = given.show ?? 0;
  if (inputs.length) await predictAndShow(model, app, inputs[shown]);
  return { items, times_ms: times, first_result_ms: firstResult, latency_ms: latency };
}

try {
  const model = await loadModel();
  const loaded = performance.now() - started;
  const app = APPS[model.meta.task];
  if (!app) throw new Error(`this page has no decoding for the task ${model.meta.task}`);
  const data = model.meta.data_name && model.meta.data_name !== model.meta.task ? ` (${model.meta.data_name})` : "";
  $("title").textContent = `edgesuite ${model.meta.task}${data}`;
  $("about").textContent = model.meta.class_names ? `${model.meta.class_names.length} classes: ${model.meta.class_names.slice(0, 12).join(", ")}`
    + (model.meta.class_names.length > 12 ? ", ..." : "") : (model.meta.preprocessing || "");
  inputForm(model, app);
  status(`${runtimeLine(model)} · model ready in ${loaded.toFixed(0)} ms`);
  if (params.get("check")) {
    const found = await check(model, app, params.get("check"));
    status(`${runtimeLine(model)} · model ready in ${loaded.toFixed(0)} ms · ${found.items.length} inputs checked`);
    window.__results = { runtime: model.meta.web.runtime, runtime_version: model.meta.web.runtime_version,
      load_ms: loaded, ...found };
  }
} catch (error) {
  status(`error: ${error.message || error}`);
  window.__results = { error: String(error && (error.stack || error.message) || error) };
}
