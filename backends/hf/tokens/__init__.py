"""Token ids of a rendered chat template, equal to `apply_chat_template(tokenize=True)`.

- `encoder`: `Encoder`, a tokenizer folder's ids, with data never encoded as a control token;
- its engines: `byte_level` (byte-level BPE, encoded by tiktoken), `spm` (SentencePiece-style BPE,
  Gemma and Mistral v3, encoded by tiktoken), `bulk` (fastokens, for many conversations).
"""
