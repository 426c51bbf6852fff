#!/usr/bin/env python3
"""Reference outputs for ember's encoder tests (crates/encoder/tests/golden.rs).

Writes, next to this script:
  minilm_reference.json  sentence-transformers embeddings of varied sentences
                         with all-MiniLM-L6-v2 (384-d, normalised);
  splade_reference.json  SPLADE vectors of a few texts with splade-tiny,
                         computed with transformers' AutoModelForMaskedLM as
                         max over attended tokens of log(1 + relu(logits)).

Run it in a throwaway venv, offline, against the installed model directories:

  python3 -m venv /tmp/st-venv
  /tmp/st-venv/bin/pip install sentence-transformers transformers
  HF_HUB_OFFLINE=1 /tmp/st-venv/bin/python tests/golden/make_reference.py \
      [/usr/share/postgresql/15/ember/models]
"""
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
from transformers import AutoModelForMaskedLM, AutoTokenizer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
    "EMBER_MODEL_PATH", "/usr/share/postgresql/15/ember/models")

LONG = (
    "PostgreSQL is a powerful, open source object-relational database system with over "
    "thirty-five years of active development that has earned it a strong reputation for "
    "reliability, feature robustness, and performance. "
)
SENTENCES = [
    # short and ordinary
    "the cat sat on the mat",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A monkey is playing drums.",
    "How do I reset my password?",
    "Postgres extensions can define new index access methods.",
    "hello",
    "Hello",
    "HELLO WORLD",
    "a",
    "I",
    "The quick brown fox jumps over the lazy dog.",
    "Semantic search finds documents by meaning rather than by exact keywords.",
    "What is the capital of France? Paris is the capital and most populous city of France.",
    # numbers, punctuation, code, urls
    "3.14159 2,718 1e10 -42 0x1F 1/3 100%",
    "Call 555-0199 before 10:30pm on 2024-02-29.",
    "!!!???...,,,;;;:::",
    "---",
    "@#$%^&*()_+{}|:<>?",
    "SELECT id FROM items ORDER BY embedding <=> '[1,2,3]' LIMIT 5;",
    "https://www.postgresql.org/docs/15/indexam.html#INDEXAM-API",
    "fn main() { println!(\"{}\", 1 + 2); }",
    "user@example.com wrote: >> quoted text",
    # unicode: accents, CJK, scripts, emoji
    "Café crème brûlée à la façon de Noël",
    "naïve coöperation résumé",
    "Cafe\u0301 (combining acute accent)",
    "日本語のテキストも埋め込めます。",
    "我爱北京天安门",
    "한국어 문장입니다",
    "Привет, как дела?",
    "مرحبا بالعالم",
    "Γειά σου Κόσμε",
    "שלום עולם",
    "नमस्ते दुनिया",
    "I love pizza 🍕🍕🍕 and 🐱 cats! 👍🏽",
    "🙂",
    "Straße, Fußgänger, Øresund, Łódź, İstanbul",
    "ＦＵＬＬＷＩＤＴＨ ｌｅｔｔｅｒｓ",
    "zero\u200bwidth\u200bspaces",
    # whitespace and control characters (empty after normalisation)
    "",
    "   ",
    "\t\n\r",
    "\x00\x01\x02\x7f",
    "\u200b\ufeff",
    "tab\tseparated\tvalues\nand a second line",
    # a word longer than WordPiece's 100-character limit
    "supercalifragilistic" * 6,
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    # long: beyond 256 tokens (truncated by the model)
    LONG * 8,
    (LONG * 3) + " The end of this text is far beyond the truncation point. " + ("filler words " * 300),
    " ".join(str(i) for i in range(400)),
    "a " * 600,
    # medium
    "In information retrieval, late interaction models such as ColBERT keep one vector per "
    "token and score a query against a document by summing, for each query token, the best "
    "matching document token.",
    "Learned sparse retrieval (SPLADE) expands a text into weighted vocabulary terms using "
    "the masked language model head of a transformer.",
    "The mitochondria is the powerhouse of the cell.",
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the "
    "age of foolishness.",
]

SPLADE_TEXTS = [
    "the cat sat on the mat",
    "Semantic search finds documents by meaning rather than by exact keywords.",
    "",
    "Café crème brûlée 日本語 🍕",
    LONG * 20,  # beyond 512 tokens: truncated
]


def minilm():
    path = os.path.join(MODELS, "all-MiniLM-L6-v2")
    model = SentenceTransformer(path, device="cpu")
    emb = model.encode(SENTENCES, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    ntok = [len(model.tokenizer(s, truncation=True, max_length=model.max_seq_length)["input_ids"])
            for s in SENTENCES]
    return {
        "model": "all-MiniLM-L6-v2",
        "max_seq_length": model.max_seq_length,
        "made_with": {"sentence_transformers": __import__("sentence_transformers").__version__,
                      "torch": torch.__version__},
        "items": [{"text": s, "tokens": n, "embedding": [float(f"{x:.9g}") for x in e]}
                  for s, e, n in zip(SENTENCES, emb, ntok)],
    }


def splade():
    path = os.path.join(MODELS, "splade-tiny")
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForMaskedLM.from_pretrained(path).eval()
    items = []
    for text in SPLADE_TEXTS:
        enc = tok(text, return_tensors="pt", truncation=True, max_length=512)
        with torch.no_grad():
            logits = model(**enc).logits
        weights = torch.log1p(torch.relu(logits)) * enc["attention_mask"].unsqueeze(-1)
        vec = weights.max(dim=1).values[0]
        ids = torch.nonzero(vec > 0).flatten().tolist()
        top = torch.topk(vec, 10)
        items.append({
            "text": text,
            "tokens": int(enc["input_ids"].shape[1]),
            "ids": ids,
            "values": [float(f"{vec[i].item():.9g}") for i in ids],
            "top_terms": tok.convert_ids_to_tokens(top.indices.tolist()),
        })
    return {"model": "splade-tiny",
            "made_with": {"transformers": __import__("transformers").__version__,
                          "torch": torch.__version__},
            "items": items}


def main():
    torch.manual_seed(0)
    ref = minilm()
    with open(os.path.join(HERE, "minilm_reference.json"), "w", encoding="utf-8") as f:
        json.dump(ref, f, ensure_ascii=False, indent=0)
    print(f"wrote {len(ref['items'])} MiniLM sentences")
    sp = splade()
    with open(os.path.join(HERE, "splade_reference.json"), "w", encoding="utf-8") as f:
        json.dump(sp, f, ensure_ascii=False, indent=0)
    for it in sp["items"][:1]:
        print("splade-tiny top terms of", repr(it["text"]), it["top_terms"])


if __name__ == "__main__":
    main()
