"""The experiment plan the rules read: which concepts, methods, prompts and extractors, and the settings of each job.

Built once from the validated config in rules/common.smk; everything here is a pure function of the config, so
the rules stay declarative and this logic is testable without Snakemake.
"""

from __future__ import annotations

from conceptbench.config.checks import RESOURCE_KEYS
from conceptbench.config.validate import validate_config
from conceptbench.diffusion.sources import BUILT_BY_THE_WORKFLOW, BUILTIN_TINY, BUILTIN_WORLD, weights_version
from conceptbench.inputs.concepts import list_image_files
from conceptbench.inputs.prompts import (
    PLAIN_ID,
    baseline_prompt,
    context_by_kind,
    context_templates,
    fill,
    images_per_prompt,
    prompt_ids,
    training_prompt,
)
from conceptbench.methods import get_method
from conceptbench.runs import REFERENCE_RUN, feature_key, run_name, snapshot_folder, snapshot_name, split_name
from conceptbench.scoring.registry import ORACLE_METRICS, is_per_image, metric_axes
from conceptbench.world.vocabulary import parse_prompt

# Seeds of the second baseline half start this far above the first, so the two halves never share a seed.
SECOND_HALF_OFFSET = 1_000_000


class Plan:
    def __init__(self, raw_config: dict, base_dir="."):
        cfg = validate_config(raw_config, base_dir)
        self.cfg = cfg
        self.concepts = cfg["_concepts"]
        # Method entries, and the runs the jobs train: one per entry and training seed (conceptbench/runs.py).
        self.entries = cfg["_methods"]
        self.methods = {}
        for name, params in self.entries.items():
            for seed in cfg.get("seeds") or [params["seed"]]:
                self.methods[run_name(name, seed, params["seed"])] = {**params, "seed": seed}
        context = cfg["prompts"]["context"]
        self.prompts = prompt_ids(cfg["prompts"]["image"], context_templates(context))  # id -> template, all kinds
        ids = {template: pid for pid, template in self.prompts.items()}
        self._kind_context_ids = {kind: [ids[t] for t in listed] for kind, listed in context_by_kind(context).items()}
        self.classes = {c.class_slug: c.class_noun for c in self.concepts.values()}
        self.extractors = sorted({metric.rsplit("_", 1)[1] for metric in cfg["metrics"]})
        self.gpu = 1 if cfg["device"] == "cuda" else 0
        # Settings the rules pass on as they are.
        self.device = cfg["device"]
        self.base_model_source = cfg["base_model"]
        self.resolution = cfg["resolution"]
        self.metrics = cfg["metrics"]
        self.plots = cfg["plots"]

    # ---- resources ------------------------------------------------------------------------------------------

    def resources(self, rule: str, runtime: int, mem_mb: int, gpu: bool = False) -> dict:
        """Default runtime (minutes) and memory of a rule, overridden per rule by `resources:` in the config.

        `gpu`: the rule's jobs put models on the configured device; with device: cuda they request one GPU (so SLURM
        gives them one, and a workstation's `gpu=N` limit counts them). A `gpu` under `resources:` is honoured for
        every rule and every device, as given.
        """
        given = self._resources_of(rule)
        out = {"runtime": given.get("runtime", runtime), "mem_mb": given.get("mem_mb", mem_mb)}
        if "gpu" in given:
            out["gpu"] = given["gpu"]
        elif gpu and self.gpu:
            out["gpu"] = self.gpu
        return out

    def threads(self, rule: str) -> int:
        """Torch threads (and SLURM CPUs) of a rule's jobs: `resources: {rule: {threads: N}}`, else 1.

        One by default: on the tiny models a second thread speeds a job up ~1.25x, a second job running beside it
        2x; the real-model presets set their own.
        """
        return self._resources_of(rule).get("threads", 1)

    def _resources_of(self, rule: str) -> dict:
        if rule not in RESOURCE_KEYS:  # a rule file asking under a name `resources:` could never set
            raise ValueError(f"no resource key {rule!r}: add it to RESOURCE_KEYS in conceptbench/config/checks.py")
        return self.cfg["resources"].get(rule, {})

    # ---- models: built here for builtin:tiny, else used where they are -------------------------------------

    def base_model_build(self) -> dict:
        """What shapes a tiny base model the workflow builds (rule base_model)."""
        return {"kind": self.cfg["base_model"], "seed": self.cfg["seed"], "resolution": self.cfg["resolution"]}

    def extractor_seed(self) -> int:
        return self.cfg["seed"]

    def base_model_input(self) -> list[str]:
        return ["results/base_model"] if self.cfg["base_model"] in BUILT_BY_THE_WORKFLOW else []

    def world_weights(self) -> str | None:
        """The committed world models' version when the config uses any of them, else None.

        A param of every rule that loads a model: rebuilt world weights re-run what they shape.
        """
        sources = [self.cfg["base_model"], *(self.cfg["extractors"][kind] for kind in self.extractors)]
        return weights_version() if BUILTIN_WORLD in sources else None

    def base_model(self, input_files) -> str:
        """The base model to load: the built folder (an input) or the configured hub id / local folder."""
        built = list(getattr(input_files, "base_model", []) or [])
        return built[0] if built else self.cfg["base_model"]

    def extractor_input(self, kind: str) -> list[str]:
        # Only builtin:tiny is built by the workflow; builtin:world ships with the package.
        return [f"results/extractors/{kind}"] if self.cfg["extractors"][kind] == BUILTIN_TINY else []

    def extractor_inputs(self) -> list[str]:
        return [path for kind in self.extractors for path in self.extractor_input(kind)]

    def extractor_sources(self) -> dict[str, str]:
        """Extractor kind -> what to load: the built folder, builtin:world, a local path or a hub id."""
        return {kind: (self.extractor_input(kind) or [self.cfg["extractors"][kind]])[0] for kind in self.extractors}

    def feature_files(self, group: str) -> list[str]:
        """One features file per extractor (in `extractors` order) for an image group such as `targets/{concept}`."""
        return [f"results/features/{kind}/{group}.safetensors" for kind in self.extractors]

    def random_extractors(self) -> list[str]:
        return [kind for kind in self.extractors if self.cfg["extractors"][kind] == BUILTIN_TINY]

    def provenance(self) -> dict[str, str] | None:
        """Where the numbers come from, when that matters: a short `label` for figures, a `text` for tables."""
        random = self.random_extractors()
        if random:
            return {"label": "demo: random weights, numbers mean nothing",
                    "text": f"random-weight builtin:tiny extractors ({', '.join(random)}): the numbers prove the "
                            "pipeline runs and mean nothing"}
        world = [kind for kind in self.extractors if self.cfg["extractors"][kind] == BUILTIN_WORLD]
        if self.cfg["base_model"] == BUILTIN_WORLD or world:
            models = (["base model"] if self.cfg["base_model"] == BUILTIN_WORLD else []) + world
            return {"label": "conceptbench world: a procedural world and tiny models pretrained on it",
                    "text": f"the conceptbench world: {', '.join(models)} pretrained on a procedural world "
                            "(conceptbench/world/weights/MODEL_CARD.md), not on photos"}
        return None

    # ---- concepts and methods ------------------------------------------------------------------------------

    def concept_files(self, concept: str) -> list[str]:
        """The photos of a concept's folder: the inputs of its prepare_concept job. Other files (concept.yaml, whose
        class noun reaches the jobs as a param; .DS_Store, notes, editor backups) re-run nothing."""
        return [str(p) for p in list_image_files(self.concepts[concept].folder)]

    def class_slug(self, concept: str) -> str:
        return self.concepts[concept].class_slug

    def concept_phrase(self, concept: str, method: str) -> str:
        c, params = self.concepts[concept], self.methods[method]
        return get_method(params["type"]).concept_phrase(concept, c.class_noun, params)

    def uses_prior(self, method: str) -> bool:
        params = self.methods[method]
        return get_method(params["type"]).uses_prior(params)

    def class_images_prompt(self, cls: str) -> str:
        """The caption of a class's prior images: the one the methods train the class prior on."""
        return training_prompt(self.classes[cls])

    def class_images_settings(self) -> dict:
        """Only what shapes class images: other generation settings must not re-run every DreamBooth training."""
        g = self.cfg["generation"]
        return {"prior": self.cfg["prior"], "scheduler": g["scheduler"], "batch_size": g["batch_size"],
                "resolution": self.cfg["resolution"], "device": self.cfg["device"]}

    def state_dir(self, concept: str, method: str) -> str:
        """A training's resumable state: beside its output, so that a failed job's clean-up keeps it."""
        return f"results/train_state/{concept}/{method}"

    def train_inputs(self, concept: str, method: str) -> dict:
        inputs = {"targets": f"results/targets/{concept}", "base_model": self.base_model_input()}
        if self.uses_prior(method):
            inputs["class_images"] = f"results/class_images/{self.class_slug(concept)}"
        return inputs

    # ---- generation ----------------------------------------------------------------------------------------

    def world_quality_settings(self) -> dict:
        return {"per_caption": self.cfg["world_quality"]["images_per_caption"], "generation": self.generation(),
                "seed": self.cfg["generation"]["seed"], "device": self.cfg["device"]}

    def generation(self) -> dict:
        g = self.cfg["generation"]
        return {"steps": g["steps"], "guidance_scale": g["guidance_scale"], "scheduler": g["scheduler"],
                "batch_size": g["batch_size"], "resolution": self.cfg["resolution"]}

    def images_per_set(self) -> dict:
        """The images of every generated set (one per seed): {"final": generation.num_images, "snapshots": the
        snapshots' (generation.snapshot_images, else the same)}, each one count or {plain, context}. What the features
        and metrics jobs check they read (inputs.prompts.images_in_set)."""
        g = self.cfg["generation"]
        return {"final": g["num_images"], "snapshots": self._snapshot_counts()}

    def _snapshot_counts(self) -> int | dict[str, int]:
        g = self.cfg["generation"]
        return g["num_images"] if g["snapshot_images"] is None else g["snapshot_images"]

    def snapshot_metrics(self) -> list[str]:
        """The metrics a snapshot is scored on: all of them, or with fewer images than the final artifact's
        (generation.snapshot_images) the per-image ones only: FID's bias and KID's noise depend on the set's size, so
        a snapshot's set metric would not compare with the final one on its trade-off path."""
        if self.cfg["generation"]["snapshot_images"] is None:
            return list(self.cfg["metrics"])
        return [m for m in self.cfg["metrics"] if is_per_image(m)]

    def _seeds(self, pid: str, offset: int = 0, counts: int | dict[str, int] | None = None) -> list[int]:
        first = self.cfg["generation"]["seed"] + offset
        counts = self.cfg["generation"]["num_images"] if counts is None else counts
        return list(range(first, first + images_per_prompt(counts, pid)))

    def context_ids(self, concept: str) -> list[str]:
        """The context prompts a concept is evaluated on: every one, or its kind's when they come per kind."""
        return self._kind_context_ids[self.concepts[concept].kind]

    def concept_prompts(self, concept: str) -> dict[str, str]:
        """Id -> template of the prompts a concept's images are generated for: the plain one and its context ones."""
        return {pid: self.prompts[pid] for pid in [PLAIN_ID, *self.context_ids(concept)]}

    def class_prompt_ids(self, cls: str) -> list[str]:
        """The prompts of a class's baselines: those of every concept of that class (of any kind)."""
        used = {pid for c in self.concepts if self.class_slug(c) == cls for pid in self.concept_prompts(c)}
        return [pid for pid in self.prompts if pid in used]

    def eval_steps(self, method: str) -> list[int]:
        return list(self.methods[method]["eval_steps"])

    def snapshot_sets(self, concept: str, method: str) -> list[list]:
        """[step, method_sets] for every snapshot, in step order: the same prompts and seeds as the final images (the
        first generation.snapshot_images of them where that is set), made from the snapshot in the checkpoint's
        snapshot_folder(step) into the image set's snapshot_folder(step)."""
        sets = self.method_sets(concept, method, self._snapshot_counts())
        return [[step, sets] for step in self.eval_steps(method)]

    def image_feature_sets(self, concept: str, method: str) -> dict[str, str]:
        """Feature key -> image folder: "<prompt>" for the final images, "step<N>/<prompt>" for the snapshots'."""
        sets = {feature_key(pid): pid for pid in self.concept_prompts(concept)}
        for step in self.eval_steps(method):
            sets.update({feature_key(pid, step): f"{snapshot_folder(step)}/{pid}"
                         for pid in self.concept_prompts(concept)})
        return sets

    def has_snapshots(self) -> bool:
        return any(self.eval_steps(m) for m in self.methods)

    def tradeoff_paths(self) -> dict[str, dict[int, str]]:
        """Per method entry with eval_steps: {step: its rows' method name once seeds are pooled}, the snapshots'
        and the final artifact's."""
        return {m: {**{s: snapshot_name(m, s) for s in p["eval_steps"]}, p["steps"]: m}
                for m, p in self.entries.items() if p["eval_steps"]}

    def own_seeds(self) -> dict[str, int]:
        """Each method entry's own training seed: its runs' rows without a seed mark have it (runs.pool_seeds)."""
        return {m: p["seed"] for m, p in self.entries.items()}

    def grid_methods(self) -> list[str]:
        """The runs shown in the image grids: those of each entry's own seed (the grid shows one image each)."""
        return [run for run in self.methods if split_name(run)[1] is None]

    def method_sets(self, concept: str, method: str, counts: int | dict[str, int] | None = None) -> list[list]:
        """[folder, prompt, seeds] per prompt (`counts` images each, else generation.num_images); the seeds are the
        same for every method (paired comparison)."""
        phrase = self.concept_phrase(concept, method)
        return [[pid, fill(template, phrase), self._seeds(pid, counts=counts)]
                for pid, template in self.concept_prompts(concept).items()]

    def baseline_sets(self, cls: str) -> list[list]:
        """The base model on the same prompts without the concept, in two halves with disjoint seeds."""
        mode = self.cfg["generation"]["baseline_phrase"]
        sets = []
        for pid in self.class_prompt_ids(cls):
            template = self.prompts[pid]
            prompt = baseline_prompt(template, self.classes[cls], mode)
            sets.append([f"{pid}/a", prompt, self._seeds(pid)])
            sets.append([f"{pid}/b", prompt, self._seeds(pid, SECOND_HALF_OFFSET)])
        return sets

    def text_prompts(self, cls: str) -> dict[str, str]:
        """The context prompts as CLIP-T compares them: the concept phrase replaced by the class noun."""
        return {pid: baseline_prompt(self.prompts[pid], self.classes[cls], "class")
                for pid in self.class_prompt_ids(cls) if pid != PLAIN_ID}

    # ---- features and metrics ------------------------------------------------------------------------------

    def oracle_task(self, concept: str) -> dict | None:
        """What the world oracle should see in this concept's images (see metrics.OracleTask), as rule params."""
        if not any(m in ORACLE_METRICS for m in self.cfg["metrics"]):
            return None
        asked = {pid: parse_prompt(self.prompts[pid]) for pid in self.context_ids(concept)}
        return {"class_noun": self.concepts[concept].class_noun,
                "asked": {pid: attributes for pid, attributes in asked.items() if attributes}}

    def needs_text(self) -> bool:
        return "text_alignment_clip" in self.cfg["metrics"]

    def text_feature_files(self, cls: str) -> list[str]:
        """The CLIP text embeddings of a class's prompts, made beside its baselines' features whenever CLIP is an
        extractor (so dropping text_alignment_clip from the metrics re-embeds nothing)."""
        return [f"results/features/clip/text/{cls}.safetensors"] if "clip" in self.extractors else []

    def metric_inputs(self, concept: str, method: str) -> dict:
        cls = self.class_slug(concept)
        inputs = {
            "targets": [f"results/features/{e}/targets/{concept}.safetensors" for e in self.extractors],
            "baselines": [f"results/features/{e}/baselines/{cls}.safetensors" for e in self.extractors],
            "text": self.text_feature_files(cls) if self.needs_text() else [],
        }
        if method != REFERENCE_RUN:
            inputs["images"] = [f"results/features/{e}/images/{concept}/{method}.safetensors"
                                for e in self.extractors]
        return inputs

    def metric_tables(self, suffix: str = "csv") -> list[str]:
        return [f"results/metrics/{c}/{m}.{suffix}" for c in self.concepts for m in [*self.methods, REFERENCE_RUN]]

    def scatter_families(self) -> list[str]:
        return [family for family, axes in metric_axes().items() if all(a in self.cfg["metrics"] for a in axes)]

    def tradeoff_families(self) -> list[str]:
        """The trade-off plots: the scatter's planes whose two metrics the snapshots are scored on; none without
        snapshots."""
        if not self.has_snapshots():
            return []
        scored = self.snapshot_metrics()
        return [family for family in self.scatter_families() if all(a in scored for a in metric_axes()[family])]

    def all_outputs(self) -> list[str]:
        outputs = [f"results/checkpoints/{c}/{m}" for c in self.concepts for m in self.methods]
        outputs += ["results/summary/metrics.csv", "results/summary/metrics.md"]
        outputs += [f"results/summary/similarity_{f}.{ext}" for f in self.scatter_families() for ext in ("png", "svg")]
        outputs += [f"results/summary/grids/{c}.png" for c in self.concepts]
        outputs += [f"results/summary/tradeoff_{f}.{ext}" for f in self.tradeoff_families() for ext in ("png", "svg")]
        if self.cfg["base_model"] == BUILTIN_WORLD:
            outputs += ["results/summary/world_quality.md"]
        return outputs

    def jobs(self) -> dict[str, list[dict[str, str]]]:
        """Rule -> the wildcards of each of its jobs in a run from scratch: what `snakemake -n` plans for
        all_outputs() (tests/workflow/test_cost_jobs.py compares the two), for counting a run's cost before it starts."""
        runs = [{"concept": c, "method": m} for c in self.concepts for m in self.methods]
        concepts = [{"concept": c} for c in self.concepts]
        classes = [{"cls": cls} for cls in self.classes]
        prior = sorted({self.class_slug(c) for c in self.concepts for m in self.methods if self.uses_prior(m)})
        families = [{"family": f} for f in self.scatter_families()]
        jobs = {
            "base_model": [{}] if self.base_model_input() else [],
            "extractor_model": [{"extractor": kind} for kind in self.random_extractors()],
            "prepare_concept": concepts,
            "class_images": [{"cls": cls} for cls in prior],
            "train": runs,
            "generate": runs,
            "baselines": classes,
            "features_targets": concepts,
            "features_images": runs,
            "features_baselines": classes,
            "metrics": [{"concept": c, "method": m} for c in self.concepts for m in [*self.methods, REFERENCE_RUN]],
            "aggregate": [{}],
            "scatter": families,
            "tradeoff": [{"family": f} for f in self.tradeoff_families()],
            "grid": concepts,
            "world_quality": [{}] if self.cfg["base_model"] == BUILTIN_WORLD else [],
            "all": [{}],
        }
        return {rule: listed for rule, listed in jobs.items() if listed}
