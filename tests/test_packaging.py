"""Packaging and docs: license, authors and URLs in the metadata; a torch range in the generator extra with the
pinned CPU wheel installed first by the Makefile; the docs' design reference inside the repository."""

import glob
import os
import re

import pytest
from conftest import ROOT

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")


def _project():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]


def test_metadata_has_license_authors_and_urls():
    project = _project()
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    with open(os.path.join(ROOT, "LICENSE")) as f:
        assert f.readline().strip() == "MIT License"
    assert project["authors"] and all(a.get("name") for a in project["authors"])
    assert project["urls"] and all(u.startswith("https://") for u in project["urls"].values())


def test_generator_extra_asks_for_a_torch_range_and_the_makefile_installs_the_pin_first():
    (torch_req,) = [r for r in _project()["optional-dependencies"]["generator"] if re.match(r"torch\b", r)]
    assert "==" not in torch_req and ">=" in torch_req, torch_req
    with open(os.path.join(ROOT, "Makefile")) as f:
        makefile = f.read()
    assert re.search(r"^TORCH \?= torch==2\.13\.0$", makefile, re.M)
    torch_line = makefile.index("pip install --quiet --disable-pip-version-check $(TORCH)")
    assert torch_line < makefile.index("-e '.[generator,test]'")
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        ci = f.read()
    assert "make install" in ci or "make test" in ci  # CI installs through the Makefile


def test_docs_point_at_the_design_inside_the_repository():
    assert os.path.isfile(os.path.join(ROOT, "docs", "design.md"))
    with open(os.path.join(ROOT, "docs", "design.md")) as f:
        design = f.read()
    for needed in ("## The model and its exact meaning", "**correct**", "**Accuracy**", "## Certificates",
                   "## Rules that keep it sound"):
        assert needed in design, needed
    docs = [os.path.join(ROOT, "README.md")] + glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)
    for path in docs:
        with open(path) as f:
            text = f.read()
        assert "DESIGN.md" not in text, f"{os.path.relpath(path, ROOT)} cites DESIGN.md, which is not in the repo"
        for target in re.findall(r"\]\(([^)#]*design\.md)\)", text):
            assert os.path.isfile(os.path.join(os.path.dirname(path), target)), (path, target)
