"""FLUX.2 [klein] (Flux2KleinPipeline): a joint-attention transformer trained by flow matching (flow_matching.py) on
patchified, batch-norm-normalised latents, conditioned on a Qwen3 language model's hidden states.

- Prompts: `Flux2KleinPipeline.encode_prompt` itself: Qwen's chat template, padded to 512 tokens, the hidden states
  of layers 9, 18 and 27 side by side, and 4-D text position ids. (diffusers' klein trainer defaults to layers 10,
  20 and 30, which the pipeline never uses, diffusers issue 13445: the pipeline's own layers are taken here.)
- Latents: the VAE posterior's mode (as diffusers' trainer), patchified 2x2 ((B, C, H, W) -> (B, 4C, H/2, W/2)),
  normalised by the VAE's batch-norm running mean and variance; tokens and 4-D image position ids by the pipeline's
  own functions.
- The transformer gets timestep / 1000 and no guidance (the klein base model has no guidance embedding; it samples
  with classifier-free guidance instead, `generation.guidance_scale`).
- LoRA: the targets of diffusers' train_dreambooth_lora_flux2_klein.py (LORA_TARGETS); loads with
  `Flux2KleinPipeline.load_lora_weights`, which adapts the transformer only (so `train_text_encoder` is refused).

Train the base model (e.g. black-forest-labs/FLUX.2-klein-base-4B): LoRAs trained on the step-distilled klein are
reported to give grey images. builtin:tiny-flux2-klein is of this family. The methods other than LoRA and
DreamBooth-LoRA are refused.
"""

from __future__ import annotations

from conceptbench.diffusion.families.base import Noised, Objective
from conceptbench.diffusion.families.flow_matching import NO_CROSS_ATTENTION, FlowMatching, TransformerFamily

# The script's default --lora_layers: the double-stream blocks' attention, the single-stream blocks' fused
# projection and their outputs (24 single blocks: the 9B model's; the 4B model has 20).
LORA_TARGETS = ["to_k", "to_q", "to_v", "to_out.0", "to_qkv_mlp_proj",
                *[f"single_transformer_blocks.{i}.attn.to_out" for i in range(24)]]
_LATER = "not built yet (issue 24)"


class KleinObjective(FlowMatching):
    posterior_mode = True

    def __init__(self, pipe, settings: dict, device):
        super().__init__(pipe, settings)
        from diffusers import Flux2KleinPipeline

        self.pipeline = Flux2KleinPipeline  # its static patchify, packing and position-id functions
        bn, eps = pipe.vae.bn, pipe.vae.config.batch_norm_eps
        self.mean = bn.running_mean.detach().float().view(1, -1, 1, 1).to(device)
        self.std = (bn.running_var.detach().float().view(1, -1, 1, 1) + eps).sqrt().to(device)
        self.device = device

    def model_input(self, latents):
        return (self.pipeline._patchify_latents(latents) - self.mean.to(latents.dtype)) / self.std.to(latents.dtype)

    def predict(self, denoiser, noised: Noised, conditioning: dict, dtype):
        image_ids = self.pipeline._prepare_latent_ids(noised.noisy).to(self.device)
        packed = self.pipeline._pack_latents(noised.noisy)
        pred = denoiser(hidden_states=packed.to(dtype), timestep=noised.timesteps / 1000, guidance=None,
                        encoder_hidden_states=conditioning["prompt_embeds"].to(dtype),
                        txt_ids=conditioning["text_ids"], img_ids=image_ids, return_dict=False)[0]
        return self.pipeline._unpack_latents_with_ids(pred[:, :packed.shape[1]], image_ids)


class Flux2Klein(TransformerFamily):
    key, title, pipeline_class = "flux2_klein", "FLUX.2 [klein]", "Flux2KleinPipeline"
    methods = {
        "lora": None,
        "textual_inversion": f"{_LATER}: its text encoder is a Qwen3 language model, not a CLIP text encoder",
        "pivotal_tuning": f"{_LATER}: its token would need an embedding in the Qwen3 language model",
        "dreambooth": f"{_LATER}: full fine-tuning of the transformer; use lora (with prior_preservation for "
                      "DreamBooth-LoRA)",
        "custom_diffusion": NO_CROSS_ATTENTION,
    }
    text_encoder_lora = False  # Flux2LoraLoaderMixin loads the transformer's LoRA only
    size_reason = "the VAE's 8x smaller latents are patchified 2x2"
    lora_targets = tuple(LORA_TARGETS)

    def text_encoders(self, pipe) -> list[tuple]:
        return [("text_encoder", pipe.tokenizer, pipe.text_encoder)]

    def encode_prompts(self, pipe, prompts: list[str], device) -> dict:
        prompt_embeds, text_ids = pipe.encode_prompt(prompts, device=device)
        return {"prompt_embeds": prompt_embeds, "text_ids": text_ids}

    def objective(self, pipe, config, height: int, width: int, device) -> Objective:
        return KleinObjective(pipe, config.family_settings, device)


FAMILY = Flux2Klein()
