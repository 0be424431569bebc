"""Probing a chat template: learning what it does by rendering small conversations through it.

- `facts`: `probe(template)` and the `Probe` it returns (system role, alternation, default system
  prompt, reasoning, images...), with the capability table and the notes the compiler uses;
- `tools`: what the template does with tools, tool calls and tool results;
- `conversations`: the marker strings, probe messages and text comparisons both share.
"""
