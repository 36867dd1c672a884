// Text in the browser: the WordPiece encoder of common/text.py (WordPieceEncoder: the same ids as the
// tensorflow-text ops of training) and the translator's detokenization (apps/translation/postprocess.py:
// detokenize, spell, glued), in plain JavaScript. The settings come from the exported metadata.

const IGNORABLE = [[0x00AD, 0x00AD], [0x034F, 0x034F], [0x061C, 0x061C], [0x115F, 0x1160], [0x17B4, 0x17B5],
  [0x180B, 0x180F], [0x200B, 0x200F], [0x202A, 0x202E], [0x2060, 0x206F], [0x3164, 0x3164], [0xFE00, 0xFE0F],
  [0xFEFF, 0xFEFF], [0xFFA0, 0xFFA0], [0xFFF0, 0xFFF8], [0x1BCA0, 0x1BCA3], [0x1D173, 0x1D17A], [0xE0000, 0xE0FFF]];
// code points that are words of their own besides Unicode punctuation: CJK ideographs and the ASCII symbols
const CJK = [[0x4E00, 0x9FFF], [0x3400, 0x4DBF], [0x20000, 0x2A6DF], [0x2A700, 0x2B73F], [0x2B740, 0x2B81F],
  [0x2B820, 0x2CEAF], [0xF900, 0xFAFF], [0x2F800, 0x2FA1F], [33, 47], [58, 64], [91, 96], [123, 126]];
const inRanges = (cp, ranges) => ranges.some(([lo, hi]) => lo <= cp && cp <= hi);
const MARK = /^\p{Mn}$/u, CONTROL = /^[\p{Cc}\p{Cf}]$/u, PUNCT = /^\p{P}$/u, SPACE = /^[\s\p{Cc}\p{Cf}]$/u;

export class WordPieceEncoder {
  // settings: the metadata's tokenizer (TextTokenizer.settings()); casefold: the code points whose Unicode
  // case folding differs from toLowerCase() (Python's str.casefold, written by the exporter)
  constructor(settings, casefold = {}) {
    this.vocab = new Map(settings.vocab.map((piece, i) => [piece, i]));
    this.size = settings.vocab.length;
    this.lower = settings.normalize === "lower";
    this.maxLength = settings.max_length;
    this.buckets = settings.bigram_buckets || 0;
    this.buckets3 = settings.trigram_buckets || 0;
    this.maxBytes = settings.max_bytes_per_word || 1000;
    this.unk = this.vocab.get(settings.unknown_token || "[UNK]");
    this.casefold = casefold;
    this.chars = new Map();
    this.wordCache = new Map();
  }

  normalize(ch) {
    let out = this.chars.get(ch);
    if (out !== undefined) return out;
    out = ch;
    if (this.lower) {
      if (inRanges(ch.codePointAt(0), IGNORABLE)) out = "";
      else {
        const nfkc = ch.normalize("NFKC");
        const folded = Array.from(nfkc).map((c) => this.casefold[c] ?? c.toLowerCase()).join("");
        out = folded.normalize("NFKC");
      }
      out = Array.from(out.normalize("NFD")).filter((c) => !MARK.test(c)).join("");
    }
    out = Array.from(out).map((c) => (CONTROL.test(c) ? " " : c)).join("");
    this.chars.set(ch, out);
    return out;
  }

  words(text) {
    const normalized = Array.from(text).map((c) => this.normalize(c)).join("");
    const words = [];
    let word = "";
    for (const ch of normalized) {
      if (SPACE.test(ch)) {
        if (word) words.push(word);
        word = "";
      } else if (inRanges(ch.codePointAt(0), CJK) || PUNCT.test(ch)) {
        if (word) words.push(word);
        words.push(ch);
        word = "";
      } else word += ch;
    }
    if (word) words.push(word);
    return words;
  }

  wordIds(word) {
    let ids = this.wordCache.get(word);
    if (ids) return ids;
    const chars = Array.from(word);
    ids = [];
    if (new TextEncoder().encode(word).length > this.maxBytes) ids = [this.unk];
    else {
      let start = 0;
      while (start < chars.length) {
        let end = chars.length;
        for (; end > start; end--) {
          const piece = (start === 0 ? "" : "##") + chars.slice(start, end).join("");
          if (this.vocab.has(piece)) {
            ids.push(this.vocab.get(piece));
            break;
          }
        }
        if (end === start) { // no piece matches here: the whole word is unknown
          ids = [this.unk];
          break;
        }
        start = end;
      }
    }
    this.wordCache.set(word, ids);
    return ids;
  }

  // one text -> Int32Array of the model's input length: maxLength piece ids (0-padded), then the hashed
  // bigram and trigram ids as common/text.py with_ngrams appends them
  encode(text) {
    let found = this.words(text).flatMap((w) => this.wordIds(w)).slice(0, this.maxLength);
    if (!found.length) found = [this.unk]; // a text with no token at all, as the graph does
    const ids = new Array(this.maxLength).fill(0);
    found.forEach((id, i) => { ids[i] = id; });
    if (!this.buckets) return Int32Array.from(ids);
    const v = this.size, out = ids.slice();
    const code = [], live = [];
    for (let i = 0; i + 1 < ids.length; i++) {
      code.push(ids[i] * v + ids[i + 1]);
      live.push(ids[i] > 0 && ids[i + 1] > 0);
    }
    code.forEach((c, i) => out.push(live[i] ? (c % this.buckets) + v : 0));
    if (this.buckets3) {
      const modulus = Math.floor((2 ** 31 - 1 - v) / v); // common/text.py trigram_modulus
      for (let i = 0; i + 2 < ids.length; i++) {
        const c3 = (code[i] % modulus) * v + ids[i + 2];
        out.push(live[i] && ids[i + 2] > 0 ? (c3 % this.buckets3) + v + this.buckets : 0);
      }
    }
    return Int32Array.from(out);
  }
}

// ---- the translator's output side (apps/translation/postprocess.py) ----
const GLUE = "\u2040", GAP = "\u2423";
const NO_SPACE_BEFORE = ".,;:!?)]}»”’%", NO_SPACE_AFTER = "¿¡([{«“„‘", JOINERS = "'’-";
const SPACELESS = [[0x3000, 0x30FF], [0x3400, 0x4DBF], [0x4E00, 0x9FFF], [0xF900, 0xFAFF], [0xFF00, 0xFFEF],
  [0x20000, 0x2FA1F]];
const ALNUM = /^[\p{L}\p{Nd}]$/u;
const spaceless = (ch) => inRanges(ch.codePointAt(0), SPACELESS);

export function glued(left, right) {
  return NO_SPACE_BEFORE.includes(right) || NO_SPACE_AFTER.includes(left) || (spaceless(left) && spaceless(right))
    || (JOINERS.includes(right) && ALNUM.test(left)) || (JOINERS.includes(left) && ALNUM.test(right));
}

export function spell(words) {
  const text = words.join(" ").replace(new RegExp(` ?${GLUE} ?`, "gu"), "").replace(new RegExp(` ?${GAP} ?`, "gu"), GAP);
  let out = "";
  for (const part of text.split(" ")) {
    if (!part) continue;
    const last = Array.from(out).pop(), first = Array.from(part)[0];
    out += !out || glued(last, first) ? part : " " + part;
  }
  return out.replaceAll(GAP, " ").trim();
}

export function stripIds(ids, startId = 2, endId = 3) {
  const out = [];
  for (const i of ids) {
    if (i === endId || i === 0) break;
    if (i !== startId) out.push(i);
  }
  return out;
}

export function detokenize(ids, vocab, startId = 2, endId = 3) {
  const words = [];
  for (const i of stripIds(ids, startId, endId)) {
    const piece = i >= 0 && i < vocab.length ? vocab[i] : "[UNK]";
    if (piece.startsWith("##") && words.length) words[words.length - 1] += piece.slice(2);
    else words.push(piece);
  }
  return spell(words);
}
