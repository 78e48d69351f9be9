"""SDXL (StableDiffusionXLPipeline): SD-1.x's objective with two text encoders, whose penultimate hidden states
are concatenated for cross-attention, and added conditioning: the second encoder's pooled projection and six size
numbers (original size, crop corner, target size).

Every method type applies (Custom Diffusion is tested on SD-1.x only); builtin:tiny-xl is of this family.
"""

from __future__ import annotations

from conceptbench.diffusion.families.base import Objective
from conceptbench.diffusion.families.noise_prediction import NoisePrediction
from conceptbench.diffusion.families.sd1 import SD1, token_ids


def size_condition(height: int, width: int, device):
    """The six size numbers as StableDiffusionXLPipeline passes them for an uncropped image of this size: (original
    height, width, crop top, left, target height, width)."""
    import torch

    return torch.tensor([[height, width, 0, 0, height, width]], device=device)


class SDXL(SD1):
    key, title, pipeline_class = "sdxl", "SDXL", "StableDiffusionXLPipeline"
    embedding_keys = ("clip_l", "clip_g")  # diffusers' SDXL textual inversion example
    load_options = dict(feature_extractor=None, image_encoder=None)

    def text_encoders(self, pipe) -> list[tuple]:
        return [("text_encoder", pipe.tokenizer, pipe.text_encoder),
                ("text_encoder_2", pipe.tokenizer_2, pipe.text_encoder_2)]

    def encode_prompts(self, pipe, prompts: list[str], device) -> dict:
        """Both encoders' penultimate hidden states side by side, and the second encoder's pooled projection, as
        StableDiffusionXLPipeline.encode_prompt gives them."""
        import torch

        states = []
        for _, tokenizer, encoder in self.text_encoders(pipe):
            out = encoder(token_ids(tokenizer, prompts, device), output_hidden_states=True)
            states.append(out.hidden_states[-2])
        return {"hidden": torch.cat(states, dim=-1), "pooled": out[0]}

    def objective(self, pipe, config, height: int, width: int, device) -> Objective:
        return NoisePrediction(pipe, time_ids=size_condition(height, width, device), snr_gamma=config.snr_gamma,
                               noise_offset=config.noise_offset)


FAMILY = SDXL()
