"""polyprompt as a system of the peers' benchmark (../shared/bench/peers).

Run beside the peers, in their harness and their venv:

    pip install --no-deps -e . lark attrs click jinja2 jsonschema pyyaml   # into the peers' venv
    PEERS_EXTRA_DIR=bench/peers_adapter bash ../shared/bench/peers/run_all.sh --only fstring,baml_,polyprompt_

`render` is a full `compile` for openai-chat (input check, render, body), and
returns the body's messages.
"""
import os

DIST = "polyprompt"
PROMPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "prompts", "peers_bench.prompt")


def load():
    import polyprompt

    return polyprompt.load(PROMPT)


def render(pf, inp):
    return pf.compile("openai-chat", inputs=inp).body["messages"]
