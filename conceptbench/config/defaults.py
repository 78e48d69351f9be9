"""The settings a config may leave out, and their values: their one home (the schema says only what is allowed,
and config.yaml is an example a user edits)."""

# Settings a config may leave out. Values follow the published SD-1.5 recipes where one exists.
DEFAULTS = {
    "device": "auto",
    "warm_start": True,  # conceptbench/warm.py: saves each local job ~5 s of imports; same outputs
    "seed": 0,
    "concepts": {},
    "prior": {"num_images": 200, "steps": 50, "guidance_scale": 7.5, "seed": 100000},
    "generation": {"num_images": 5, "snapshot_images": None, "steps": 50, "guidance_scale": 7.5, "scheduler": None,
                   "seed": 0,
                   "batch_size": 5, "baseline_phrase": "class"},
    "prompts": {
        "image": "a photo of {c}",
        "context": [
            "a photo of {c} in a forest", "a photo of {c} in a city", "a photo of {c} in a desert",
            "a photo of {c} in a field", "a photo of {c} in a kitchen", "a photo of {c} in a bedroom",
            "an oil painting of {c}", "Elmo holding {c}", "a painting of {c} in a forest",
        ],
    },
    "extractors": {"clip": "openai/clip-vit-base-patch32", "inception": "builtin:tiny", "dino": "facebook/dino-vits16",
                   "oracle": "builtin:world"},
    "metrics": ["image_similarity_clip", "prompt_similarity_clip", "image_fid_inception", "prompt_fid_inception",
                "image_kid_inception", "prompt_kid_inception", "image_similarity_dino", "text_alignment_clip"],
    "plots": {"grid_thumb": 96, "error_bars": "ci"},
    "world_quality": {"images_per_caption": 2},
    "resources": {},
    # "seeds": [0, 1, 2] trains every method entry once per training seed; absent: once, with the entry's seed.
    # "gpus": N shares the first N visible GPUs among a local run's jobs; absent: every visible GPU.
}
