"""Render k8s/ kustomizations offline, implementing exactly the kustomize subset k8s/ uses.

Why this exists: CI must render and validate the manifests from a clean clone with nothing but
the registries the project already uses (PyPI through uv, Debian). kustomize is on none of
them in a usable form (Debian bookworm has no kustomize package; its kubernetes-client 1.20
embeds kustomize v2, which predates `labels` and `patches`). So this renderer implements
the small subset k8s/ needs, and refuses anything else loudly instead of rendering it wrong:

- ``resources``: YAML files inside the kustomization directory, or directories (bases),
  rendered recursively first, as kustomize does;
- ``patches``: ``- path: file.yaml`` only, a strategic merge patch whose target is the one
  resource with the patch's apiVersion group, kind and name. Merge semantics: mappings merge
  key by key, a ``null`` value deletes the key, lists of mappings with a known merge key
  (containers/volumes/env by ``name``, volumeMounts by ``mountPath``, ports by
  ``containerPort``) merge item by item, every other list is replaced;
- ``namespace``: set on every namespaced resource;
- ``labels``: ``pairs`` added to ``metadata.labels`` only (``includeSelectors``/
  ``includeTemplates`` must be false or absent: selectors are immutable on a Deployment);
- ``images``: ``newName``/``newTag`` on pod-spec containers whose image name matches.

Where a real kustomize is present (``kustomize`` or ``kubectl kustomize``), .ci/deploy-checks
renders with it too and compares (``--compare-with``), which is how this subset is kept honest.

Usage: python .ci/kustomize_subset.py DIR [--compare-with RENDERED.yaml]
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

KUSTOMIZATION_KEYS = {"apiVersion", "kind", "namespace", "labels", "resources", "images", "patches"}
# Strategic-merge keys for the lists this project patches (from the Kubernetes API types).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
}
CLUSTER_SCOPED_KINDS = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "PersistentVolume",
    "StorageClass",
    "CustomResourceDefinition",
    "PriorityClass",
}
# kustomize's legacy output order (abridged to kinds that may appear); the rest sort after.
KIND_ORDER = [
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
]


class UnsupportedKustomization(ValueError):
    """The kustomization uses something this subset does not implement."""


def _load_documents(path: Path) -> list[Resource]:
    with path.open() as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def _group(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge of ``patch`` into ``base`` (see module docstring for the subset)."""
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(base)
    for key, value in patch.items():
        if key.startswith("$"):
            raise UnsupportedKustomization(f"patch directive {key!r} is not supported")
        if value is None:
            merged.pop(key, None)
        elif key in MERGE_KEYS and isinstance(value, list) and isinstance(base.get(key), list):
            merged[key] = _merge_list(base[key], value, MERGE_KEYS[key])
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merge(base[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _merge_list(base: list[Any], patch: list[Any], merge_key: str) -> list[Any]:
    merged = list(base)
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            raise UnsupportedKustomization(f"list item without merge key {merge_key!r}: {item!r}")
        for index, existing in enumerate(merged):
            if isinstance(existing, dict) and existing.get(merge_key) == item[merge_key]:
                merged[index] = _merge(existing, item)
                break
        else:
            merged.append(_merge({}, item))
    return merged


def _pod_specs(resource: Resource) -> list[dict[str, Any]]:
    spec = resource.get("spec") or {}
    kind = resource.get("kind")
    if kind == "Pod":
        return [spec]
    if kind == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    template = spec.get("template")
    return [template["spec"]] if isinstance(template, dict) and "spec" in template else []


def _image_name(image: str) -> str:
    if "@" in image:
        return image.split("@", 1)[0]
    last = image.rsplit("/", 1)[-1]
    return image.rsplit(":", 1)[0] if ":" in last else image


def _apply_images(resources: list[Resource], images: list[dict[str, Any]]) -> None:
    for entry in images:
        unknown = set(entry) - {"name", "newName", "newTag"}
        if unknown:
            raise UnsupportedKustomization(f"images fields {sorted(unknown)} not supported")
        for resource in resources:
            for pod_spec in _pod_specs(resource):
                for container in [
                    *pod_spec.get("containers", []),
                    *pod_spec.get("initContainers", []),
                ]:
                    image = container.get("image", "")
                    name = _image_name(image)
                    if name != entry["name"]:
                        continue
                    tag = image[len(name) :] if not image.startswith(name + "@") else ""
                    new_name = entry.get("newName", name)
                    new_tag = f":{entry['newTag']}" if "newTag" in entry else tag
                    container["image"] = f"{new_name}{new_tag}"


def _apply_labels(resources: list[Resource], labels: list[dict[str, Any]]) -> None:
    for entry in labels:
        if entry.get("includeSelectors") or entry.get("includeTemplates"):
            raise UnsupportedKustomization("labels with includeSelectors/includeTemplates")
        unknown = set(entry) - {"pairs", "includeSelectors", "includeTemplates"}
        if unknown:
            raise UnsupportedKustomization(f"labels fields {sorted(unknown)} not supported")
        for resource in resources:
            metadata = resource.setdefault("metadata", {})
            metadata.setdefault("labels", {}).update(
                {str(k): str(v) for k, v in entry["pairs"].items()}
            )


def _apply_patch(resources: list[Resource], patch: Resource, source: Path) -> None:
    targets = [
        r
        for r in resources
        if r.get("kind") == patch.get("kind")
        and r.get("metadata", {}).get("name") == patch.get("metadata", {}).get("name")
        and _group(r.get("apiVersion", "")) == _group(patch.get("apiVersion", ""))
    ]
    if len(targets) != 1:
        raise UnsupportedKustomization(f"{source}: patch matches {len(targets)} resources, not 1")
    target = targets[0]
    merged = _merge(target, patch)
    target.clear()
    target.update(merged)


def render(directory: Path) -> list[Resource]:
    """The resources ``kustomize build directory`` would emit, for the supported subset."""
    directory = directory.resolve()
    kustomization = _load_documents(directory / "kustomization.yaml")[0]
    unknown = set(kustomization) - KUSTOMIZATION_KEYS
    if unknown:
        raise UnsupportedKustomization(f"{directory}: unsupported fields {sorted(unknown)}")

    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            resources.extend(render(path))
        elif path.is_relative_to(directory):
            resources.extend(_load_documents(path))
        else:
            # kustomize's default load restrictor refuses files outside the root, so do we
            raise UnsupportedKustomization(f"{entry}: file outside {directory}")

    for entry in kustomization.get("patches", []):
        if set(entry) != {"path"}:
            raise UnsupportedKustomization(f"patch {entry!r}: only `- path:` is supported")
        for patch in _load_documents(directory / entry["path"]):
            _apply_patch(resources, patch, directory / entry["path"])

    if "namespace" in kustomization:
        for resource in resources:
            if resource.get("kind") not in CLUSTER_SCOPED_KINDS:
                resource.setdefault("metadata", {})["namespace"] = kustomization["namespace"]
    _apply_labels(resources, kustomization.get("labels", []))
    _apply_images(resources, kustomization.get("images", []))
    return sorted(resources, key=_output_order)


def _output_order(resource: Resource) -> tuple[int, str, str]:
    kind = resource.get("kind", "")
    rank = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
    return rank, kind, resource.get("metadata", {}).get("name", "")


def canonical(resources: list[Resource]) -> dict[str, Any]:
    """Resources keyed by identity, lists of named items sorted: for comparing two renders.

    kustomize may reorder merged list items (a patched volume moves first); order of named
    items carries no meaning for the API, except env vars referencing earlier ones, which the
    manifest tests check on their own.
    """

    def normalise(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: normalise(v) for k, v in value.items()}
        if isinstance(value, list):
            items = [normalise(v) for v in value]
            if items and all(isinstance(v, dict) and "name" in v for v in items):
                return sorted(items, key=lambda v: str(v["name"]))
            return items
        return value

    keyed: dict[str, Any] = {}
    for resource in resources:
        metadata = resource.get("metadata", {})
        key = "/".join(
            [
                resource.get("apiVersion", ""),
                resource.get("kind", ""),
                metadata.get("namespace", ""),
                metadata.get("name", ""),
            ]
        )
        keyed[key] = normalise(resource)
    return keyed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("directory", type=Path)
    parser.add_argument(
        "--compare-with",
        type=Path,
        help="a real kustomize rendering of the same directory; exit 1 if they differ",
    )
    args = parser.parse_args()
    rendered = render(args.directory)
    if args.compare_with is None:
        yaml.safe_dump_all(rendered, sys.stdout, sort_keys=False)
        return 0
    ours = canonical(rendered)
    theirs = canonical(_load_documents(args.compare_with))
    if ours == theirs:
        print(f"kustomize_subset: {args.directory} matches {args.compare_with}")
        return 0
    for key in sorted(set(ours) | set(theirs)):
        if ours.get(key) != theirs.get(key):
            print(f"kustomize_subset: MISMATCH {key}", file=sys.stderr)
            print(f"  subset:    {ours.get(key)}", file=sys.stderr)
            print(f"  kustomize: {theirs.get(key)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
