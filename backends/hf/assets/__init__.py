"""Model files: what polyprompt reads from them and the folders it builds from them, never
from a model hub.

- `gguf`: a GGUF header reader (the chat template, special tokens and vocabulary), standard library only;
- `tokenizers`: the real tokenizers shipped by registry packages, as plain Hugging Face folders,
  and any GGUF file's tokenizer converted once;
- `cache`: the asset cache those folders live in, and how a folder is published into it.
"""
