# Minimal stand-in for the `transformers` package (not installable here: not in Debian, PyPI unreachable).
# AutoConfig: always fails, so llama.cpp's converter takes its own config.json fallback path.
# AutoTokenizer: just the vocabulary listing LlamaHfVocab asks for, read from tokenizer.json.
import json
from pathlib import Path

class AutoConfig:
    @staticmethod
    def from_pretrained(*a, **k):
        raise RuntimeError("transformers shim: no AutoConfig")

class _Tok:
    is_fast = True
    def __init__(self, d):
        tj = json.loads((Path(d) / "tokenizer.json").read_text())
        tc_path = Path(d) / "tokenizer_config.json"
        tc = json.loads(tc_path.read_text()) if tc_path.exists() else {}
        self._vocab = dict(tj["model"]["vocab"])
        for t in tj.get("added_tokens", []):
            self._vocab[t["content"]] = t["id"]
        self.vocab_size = len(tj["model"]["vocab"])
        self._added = {t["content"]: t["id"] for t in tj.get("added_tokens", [])}
        specials = [tc.get(k) for k in ("bos_token", "eos_token", "unk_token", "pad_token")]
        specials = [s["content"] if isinstance(s, dict) else s for s in specials if s]
        self.all_special_tokens = specials
        self.all_special_ids = [self._vocab[s] for s in specials]
    def get_vocab(self):
        return dict(self._vocab)
    def get_added_vocab(self):
        return dict(self._added)

class AutoTokenizer:
    @staticmethod
    def from_pretrained(d, **k):
        return _Tok(d)
