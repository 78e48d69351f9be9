"""Qwen-Image (QwenImagePipeline): a joint-attention transformer trained by flow matching (flow_matching.py) on
5-D video-VAE latents, conditioned on a Qwen2.5-VL language model's last hidden states, sampled with true
classifier-free guidance.

- Prompts: `QwenImagePipeline.encode_prompt` itself: a system template whose first 34 tokens the pipeline drops,
  the last hidden states of the valid tokens, padded to the batch's longest with a mask (None where none is
  padded). Instance and class prompts encoded apart are joined as diffusers' trainer joins them: padded with zeros
  to the longer one, the mask marking the padding (batch_conditioning).
- Latents: images go to the VAE as one-frame videos (B, 3, 1, H, W); x0 = (z - latents_mean) / latents_std per
  channel of the VAE's config; the transformer reads them packed 2x2 into tokens with `img_shapes` [(1, h/2, w/2)]
  per sample, by the pipeline's own packing functions.
- The transformer gets timestep / 1000 and no guidance embedding. diffusers' trainer loads the scheduler with
  shift 3, which changes nothing while the model's scheduler shifts dynamically (at sampling time), as Qwen-Image's
  does: training draws the unshifted sigmas, here too.
- Sampling: `generation.guidance_scale` is the pipeline's `true_cfg_scale`, with the negative prompt " " that
  Qwen-Image's model card uses (guidance needs a negative prompt); at 1 or below there is no guidance.
- LoRA: the targets of diffusers' train_dreambooth_lora_qwen_image.py (to_k, to_q, to_v, to_out.0); loads with
  `QwenImagePipeline.load_lora_weights`, which adapts the transformer only (so `train_text_encoder` is refused).

builtin:tiny-qwen-image is of this family. The methods other than LoRA and DreamBooth-LoRA are refused.
"""

from __future__ import annotations

from conceptbench.diffusion.families.base import Noised, Objective
from conceptbench.diffusion.families.flow_matching import NO_CROSS_ATTENTION, FlowMatching, TransformerFamily

LORA_TARGETS = ["to_k", "to_q", "to_v", "to_out.0"]
# The negative prompt of Qwen-Image's model card: true CFG needs one, and this one asks for nothing in particular.
NEGATIVE_PROMPT = " "
_LATER = "not built yet (issue 24)"


class QwenImageObjective(FlowMatching):
    def __init__(self, pipe, settings: dict, device):
        import torch

        super().__init__(pipe, settings)
        from diffusers import QwenImagePipeline

        self.pipeline = QwenImagePipeline  # its static packing functions
        vae = pipe.vae.config
        self.mean = torch.tensor(vae.latents_mean).view(1, vae.z_dim, 1, 1, 1).to(device)
        self.std = torch.tensor(vae.latents_std).view(1, vae.z_dim, 1, 1, 1).to(device)
        self.vae_factor = pipe.vae_scale_factor

    def model_input(self, latents):
        return (latents - self.mean.to(latents.dtype)) / self.std.to(latents.dtype)

    def predict(self, denoiser, noised: Noised, conditioning: dict, dtype):
        batch, channels, _, height, width = noised.noisy.shape
        frames_first = noised.noisy.permute(0, 2, 1, 3, 4)  # (B, 1, C, H, W), as the pipeline packs them
        packed = self.pipeline._pack_latents(frames_first, batch, channels, height, width)
        pred = denoiser(hidden_states=packed.to(dtype), timestep=noised.timesteps / 1000,
                        encoder_hidden_states=conditioning["prompt_embeds"].to(dtype),
                        encoder_hidden_states_mask=conditioning.get("prompt_embeds_mask"),
                        img_shapes=[[(1, height // 2, width // 2)]] * batch, return_dict=False)[0]
        return self.pipeline._unpack_latents(pred, height * self.vae_factor, width * self.vae_factor,
                                             self.vae_factor)


class QwenImage(TransformerFamily):
    key, title, pipeline_class = "qwen_image", "Qwen-Image", "QwenImagePipeline"
    methods = {
        "lora": None,
        "textual_inversion": f"{_LATER}: its text encoder is a Qwen2.5-VL language model, not a CLIP text encoder",
        "pivotal_tuning": f"{_LATER}: its token would need an embedding in the Qwen2.5-VL language model",
        "dreambooth": "full fine-tuning of Qwen-Image's 20B-parameter transformer is not offered; use lora (with "
                      "prior_preservation for DreamBooth-LoRA)",
        "custom_diffusion": NO_CROSS_ATTENTION,
    }
    text_encoder_lora = False  # QwenImageLoraLoaderMixin loads the transformer's LoRA only
    lora_targets = tuple(LORA_TARGETS)
    # Its scheduler stretches the schedule so that the last sigma is shift_terminal (0.02): with one step the
    # stretch divides 0 by 0, and diffusers' FlowMatchEulerDiscreteScheduler samples at a NaN timestep.
    min_sampler_steps = 2
    min_steps_reason = "its scheduler's shift_terminal stretch gives a NaN timestep at 1 step"

    def text_encoders(self, pipe) -> list[tuple]:
        return [("text_encoder", pipe.tokenizer, pipe.text_encoder)]

    def vae_input(self, pixels):
        return pixels.unsqueeze(2)  # a video VAE: each image is a one-frame video

    def encode_prompts(self, pipe, prompts: list[str], device) -> dict:
        prompt_embeds, mask = pipe.encode_prompt(prompts, device=device)
        return {"prompt_embeds": prompt_embeds, "prompt_embeds_mask": mask}

    def batch_conditioning(self, conditionings: list[dict], each: int) -> dict:
        """Each conditioning (of one prompt) `each` times, padded with zeros to the longest, the mask marking the
        padding; no mask where nothing is padded (as the pipeline gives it)."""
        import torch

        longest = max(c["prompt_embeds"].shape[1] for c in conditionings)
        embeds, masks = [], []
        for c in conditionings:
            e = c["prompt_embeds"]
            mask = c["prompt_embeds_mask"]
            if mask is None:
                mask = torch.ones(e.shape[:2], dtype=torch.long, device=e.device)
            pad = longest - e.shape[1]
            embeds.append(torch.cat([e, e.new_zeros(e.shape[0], pad, e.shape[2])], 1).expand(each, -1, -1))
            masks.append(torch.cat([mask, mask.new_zeros(mask.shape[0], pad)], 1).expand(each, -1))
        mask = torch.cat(masks)
        return {"prompt_embeds": torch.cat(embeds), "prompt_embeds_mask": None if mask.all() else mask}

    def sampling_options(self, guidance_scale: float, count: int) -> dict:
        return {"true_cfg_scale": guidance_scale, "negative_prompt": [NEGATIVE_PROMPT] * count}

    def objective(self, pipe, config, height: int, width: int, device) -> Objective:
        return QwenImageObjective(pipe, config.family_settings, device)


FAMILY = QwenImage()
