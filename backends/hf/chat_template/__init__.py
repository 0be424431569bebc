"""Chat templates rendered exactly as transformers renders them, with jinja2 only.

- `render`: `ChatTemplate` and `TemplateError`, transformers' Jinja environment (`tojson`,
  `raise_exception`, `strftime_now` at a fixed date), sandboxed unless the template ships here;
- `compiler`: a template as one Python function (Jinja is the fallback), what makes rendering fast;
- `jinja_fast`: a faster Jinja code generator, for the templates the compiler leaves to Jinja.
"""
