"""FLUX.1 (FluxPipeline): a joint-attention transformer trained by flow matching (flow_matching.py) on packed
latents, conditioned on T5's hidden states and CLIP's pooled embedding, with FLUX.1-dev's guidance embedding.

- Prompts: `FluxPipeline.encode_prompt` itself (T5 padded to 512 tokens, CLIP's pooled output), text ids zeros.
- Latents: x0 = (z - shift_factor) * scaling_factor of the VAE's config, packed 2x2 into tokens
  ((B, C, H, W) -> (B, H/2 * W/2, 4C)) with image position ids [0, row, column], by the pipeline's own functions.
- The transformer gets timestep / 1000 and, where `guidance_embeds` is set (FLUX.1-dev), the guidance scale
  `guidance_scale` for every sample (3.5, as diffusers' trainer; its README trains at 1).
- LoRA: diffusers' trainer's default targets (LORA_TARGETS); loads with `FluxPipeline.load_lora_weights`, which
  adapts the transformer and the CLIP text encoder (not T5).
- Textual Inversion and pivotal tuning: the token gets an embedding in CLIP-L and in T5, saved as {"clip_l", "t5"}
  (the layout of diffusers' advanced FLUX trainer, train_dreambooth_lora_flux_advanced.py, with T5 embeddings on),
  loaded with one `pipe.load_textual_inversion(..., text_encoder=..., tokenizer=...)` per encoder; pivotal tuning's
  LoRA takes LoRA's targets.

- Sampling: FluxPipeline with the model's own FlowMatchEulerDiscreteScheduler (the only sampler offered), at
  `generation.guidance_scale` as FLUX.1-dev's guidance embedding; images' sides a multiple of 16 (8x VAE, 2x2
  packing).

builtin:tiny-flux is of this family. Full DreamBooth and Custom Diffusion are refused.
"""

from __future__ import annotations

from conceptbench.diffusion.families.base import Noised, Objective
from conceptbench.diffusion.families.flow_matching import (
    NO_CROSS_ATTENTION,
    SETTINGS,
    SETTINGS_SCHEMA,
    FlowMatching,
    TransformerFamily,
)

# T5's prompt length in FluxPipeline (its default max_sequence_length) and in diffusers' trainer.
MAX_SEQUENCE_LENGTH = 512
# train_dreambooth_lora_flux.py's default --lora_layers: every attention projection of both streams and the
# double-stream blocks' feed-forward layers.
LORA_TARGETS = ["attn.to_k", "attn.to_q", "attn.to_v", "attn.to_out.0", "attn.add_k_proj", "attn.add_q_proj",
                "attn.add_v_proj", "attn.to_add_out", "ff.net.0.proj", "ff.net.2", "ff_context.net.0.proj",
                "ff_context.net.2"]
_LATER = "not built yet (issue 24)"


class FluxObjective(FlowMatching):
    def __init__(self, pipe, settings: dict, height: int, width: int, device):
        super().__init__(pipe, settings)
        from diffusers import FluxPipeline

        self.pipeline = FluxPipeline  # its static packing and position-id functions
        vae = pipe.vae.config
        self.shift, self.scale = vae.shift_factor, vae.scaling_factor
        self.vae_factor = 2 ** (len(vae.block_out_channels) - 1)
        self.height, self.width, self.device = height, width, device
        self.guidance_scale = settings["guidance_scale"]

    def model_input(self, latents):
        return (latents - self.shift) * self.scale

    def transformer_timestep(self, timesteps):
        """FluxTransformer2DModel multiplies its timestep by 1000 (diffusers' trainer and pipeline pass t / 1000)."""
        return timesteps / 1000

    def predict(self, denoiser, noised: Noised, conditioning: dict, dtype):
        import torch

        batch, channels, height, width = noised.noisy.shape
        packed = self.pipeline._pack_latents(noised.noisy, batch, channels, height, width)
        image_ids = self.pipeline._prepare_latent_image_ids(batch, height // 2, width // 2, self.device, dtype)
        text = conditioning["prompt_embeds"]
        text_ids = torch.zeros(text.shape[1], 3, device=self.device, dtype=dtype)  # as FluxPipeline.encode_prompt
        guidance = (torch.full((batch,), self.guidance_scale, device=self.device, dtype=torch.float32)
                    if denoiser.config.guidance_embeds else None)
        pred = denoiser(hidden_states=packed.to(dtype), timestep=self.transformer_timestep(noised.timesteps),
                        guidance=guidance, pooled_projections=conditioning["pooled"].to(dtype),
                        encoder_hidden_states=text.to(dtype), txt_ids=text_ids, img_ids=image_ids,
                        return_dict=False)[0]
        return self.pipeline._unpack_latents(pred, height * self.vae_factor, width * self.vae_factor,
                                             self.vae_factor)


class Flux1(TransformerFamily):
    key, title, pipeline_class = "flux1", "FLUX.1", "FluxPipeline"
    load_options = dict(image_encoder=None, feature_extractor=None)
    methods = {
        "lora": None,
        "textual_inversion": None,
        "pivotal_tuning": None,
        "dreambooth": f"{_LATER}: full fine-tuning of FLUX.1's 12B-parameter transformer; use lora (with "
                      "prior_preservation for DreamBooth-LoRA)",
        "custom_diffusion": NO_CROSS_ATTENTION,
    }
    lora_targets = tuple(LORA_TARGETS)
    embedding_keys = ("clip_l", "t5")  # diffusers' advanced FLUX trainer
    settings = {**SETTINGS, "guidance_scale": 3.5}
    settings_schema = {**SETTINGS_SCHEMA, "guidance_scale": {
        "type": "number", "minimum": 0,
        "description": "the guidance the transformer is given while training (FLUX.1-dev's guidance embedding)"}}

    def text_encoders(self, pipe) -> list[tuple]:
        return [("text_encoder", pipe.tokenizer, pipe.text_encoder),
                ("text_encoder_2", pipe.tokenizer_2, pipe.text_encoder_2)]

    def lora_text_encoders(self, pipe) -> list[tuple]:
        return self.text_encoders(pipe)[:1]  # FluxLoraLoaderMixin loads CLIP's LoRA, not T5's

    def encode_prompts(self, pipe, prompts: list[str], device) -> dict:
        prompt_embeds, pooled, _ = pipe.encode_prompt(prompts, device=device,
                                                      max_sequence_length=MAX_SEQUENCE_LENGTH)
        return {"prompt_embeds": prompt_embeds, "pooled": pooled}

    def objective(self, pipe, config, height: int, width: int, device) -> Objective:
        return FluxObjective(pipe, config.family_settings, height, width, device)


FAMILY = Flux1()
