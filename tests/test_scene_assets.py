"""A scene's asset files: checked when set, found when the server starts, served by the
experiment's own server at content-addressed URLs that the browser gets in the scene payload."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from interactive_gym.configurations.object_contexts import AtlasSpec, ImgSpec, MultiAtlasSpec

from interactive_gym_p2p.scene_settings import SceneConfigError
from interactive_gym_p2p.server.experiment import ExperimentError, load_experiment

from png_files import png_bytes, write_atlas
from server_harness import ParticipantClient, make_scene, make_stager, running_server


@pytest.fixture()
def assets(tmp_path: Path) -> Path:
    folder = tmp_path / "static" / "assets"
    folder.mkdir(parents=True)
    write_atlas(folder, "chefs", {"up.png": (200, 0, 0, 255), "down.png": (0, 200, 0, 255)})
    (folder / "floor.png").write_bytes(png_bytes(4, 4, lambda x, y: (90, 90, 90, 255)))
    pages = folder / "objects"
    pages.mkdir()
    (pages / "p0.png").write_bytes(png_bytes(8, 8, lambda x, y: (1, 2, 3, 255)))
    (pages / "p1.png").write_bytes(png_bytes(8, 8, lambda x, y: (4, 5, 6, 255)))
    multi = {"textures": [
        {"image": "p0.png", "frames": [{"filename": "onion", "frame": {"x": 0, "y": 0, "w": 8, "h": 8}}]},
        {"image": "p1.png", "frames": [{"filename": "dish", "frame": {"x": 0, "y": 0, "w": 8, "h": 8}}]},
    ]}
    (folder / "objects.json").write_text(json.dumps(multi))
    return tmp_path


def specs() -> list[dict]:
    return [
        AtlasSpec(name="chefs", img_path="static/assets/chefs.png", atlas_path="static/assets/chefs.json").as_dict(),
        ImgSpec(name="floor", img_path="static/assets/floor.png").as_dict(),
        MultiAtlasSpec(name="objects", img_path="static/assets/objects", atlas_path="static/assets/objects.json").as_dict(),
    ]


def test_specs_resolve_to_content_addressed_urls(assets: Path) -> None:
    scene = make_scene().rendering(assets_to_preload=specs(), preload_specs=[ImgSpec(name="floor2", img_path="static/assets/floor.png")])
    experiment = load_experiment(make_stager(scene), base_dir=assets)
    textures = experiment.scene_assets["game"].payload()
    assert [t["name"] for t in textures] == ["chefs", "floor", "objects", "floor2"]
    assert [t["kind"] for t in textures] == ["atlas", "image", "multiatlas", "image"]
    floor = textures[1]["image"]
    assert floor.startswith("/p2p/assets/") and floor.endswith("/floor.png")
    assert textures[3]["image"] == floor, "one file, one URL"
    assert len(textures[2]["images"]) == 2
    for url in [floor, textures[0]["atlas"], *textures[2]["images"]]:
        assert experiment.asset_files[url.removeprefix("/p2p/assets/")].is_file()
    # The URL changes with the content (so browsers may cache it for good).
    (assets / "static" / "assets" / "floor.png").write_bytes(png_bytes(4, 4, lambda x, y: (0, 0, 0, 255)))
    again = load_experiment(make_stager(make_scene().rendering(assets_to_preload=specs())), base_dir=assets)
    assert again.scene_assets["game"].payload()[1]["image"] != floor


@pytest.mark.parametrize(
    "bad, fragment",
    [
        (ImgSpec(name="x", img_path="static/assets/nope.png").as_dict(), "is not a file"),
        (AtlasSpec(name="x", img_path="static/assets/floor.png", atlas_path="static/assets/floor.png").as_dict(), "is not JSON"),
        (MultiAtlasSpec(name="x", img_path="static/assets/nowhere", atlas_path="static/assets/objects.json").as_dict(), "is not a file"),
    ],
)
def test_missing_or_broken_files_stop_the_server_at_start(assets: Path, bad: dict, fragment: str) -> None:
    with pytest.raises(ExperimentError) as info:
        load_experiment(make_stager(make_scene().rendering(assets_to_preload=[bad])), base_dir=assets)
    assert fragment in str(info.value) and "scene 1" in str(info.value)


def test_rotated_atlas_frames_are_refused(assets: Path) -> None:
    folder = assets / "static" / "assets"
    atlas = json.loads((folder / "chefs.json").read_text())
    atlas["frames"]["up.png"]["rotated"] = True
    (folder / "chefs.json").write_text(json.dumps(atlas))
    with pytest.raises(ExperimentError, match="rotated.*without rotation"):
        load_experiment(make_stager(make_scene().rendering(assets_to_preload=specs()[:1])), base_dir=assets)


def test_spec_shapes_are_checked_when_set() -> None:
    with pytest.raises(SceneConfigError, match=r"assets_to_preload\)\[1\].*used twice"):
        make_scene().rendering(assets_to_preload=[ImgSpec("a", "a.png"), ImgSpec("a", "b.png")])
    with pytest.raises(SceneConfigError, match=r"\['frame_width'\].*positive integer"):
        make_scene().rendering(assets_to_preload=[{"object_type": "spritesheet", "name": "s", "img_path": "s.png", "frame_width": 0, "frame_height": 8}])
    with pytest.raises(SceneConfigError, match="texture names \\['a'\\] are also in assets_to_preload"):
        make_scene().rendering(assets_to_preload=[ImgSpec("a", "a.png")], preload_specs=[ImgSpec("a", "b.png")]).check()
    # Spec objects (not only their as_dict()) are accepted, as dicts.
    scene = make_scene().rendering(assets_to_preload=[ImgSpec("a", "a.png")])
    assert scene.assets_to_preload == [{"name": "a", "img_path": "a.png", "object_type": "img_spec"}]


def test_served_files_and_scene_payload(assets: Path, tmp_path: Path) -> None:
    scene = make_scene().rendering(assets_to_preload=specs())
    cwd = os.getcwd()
    os.chdir(assets)  # relative asset paths are relative to where the server starts
    try:
        server_ctx = running_server(make_stager(scene), tmp_path)
        server = server_ctx.__enter__()
    finally:
        os.chdir(cwd)
    try:
        person = ParticipantClient(server.url, "alice")
        try:
            person.log.wait("activate_scene")
            person.call("advance_scene", {"scene_id": "start"})
            payload = person.log.wait("activate_scene", lambda d: d.get("scene_id") == "game")
        finally:
            person.close()
        textures = payload["p2p"]["rendering"]["textures"]
        assert [t["name"] for t in textures] == ["chefs", "floor", "objects"]
        with urllib.request.urlopen(server.url + textures[1]["image"], timeout=15) as response:
            assert response.read() == (assets / "static" / "assets" / "floor.png").read_bytes()
            assert "max-age=31536000" in response.headers["Cache-Control"]
            assert response.headers["Content-Type"] == "image/png"
        with urllib.request.urlopen(server.url + textures[0]["atlas"], timeout=15) as response:
            assert json.loads(response.read())["frames"]["down.png"]["frame"]["x"] == 16
        for path in ["/p2p/assets/0000000000000000/floor.png", textures[1]["image"].replace("floor.png", "chefs.json")]:
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(server.url + path, timeout=15)
            assert info.value.code == 404
        # Interactive Gym's object contexts for env code that imports them (written into Pyodide).
        with urllib.request.urlopen(server.url + "/p2p/py/interactive_gym.json", timeout=15) as response:
            modules = json.loads(response.read())
        assert "class Sprite" in modules["interactive_gym/configurations/object_contexts.py"]
        assert "interactive_gym/__init__.py" in modules
    finally:
        server_ctx.__exit__(None, None, None)


def test_background_is_a_colour_or_a_preloaded_texture() -> None:
    make_scene().rendering(background="#0f172a").check()
    make_scene().rendering(background="white").check()
    make_scene().rendering(background="floor", assets_to_preload=[ImgSpec("floor", "floor.png")]).check()
    with pytest.raises(SceneConfigError, match=r"rendering\(background\): 'floor.png' is neither a colour nor the name"):
        make_scene().rendering(background="floor.png", assets_to_preload=[ImgSpec("floor", "floor.png")]).check()
