"""Train the miniature CLIP on the synthetic world with the standard CLIP contrastive loss, on CPU.

    python -m miniworld.train --seed 0 --out tests/fixtures/miniclip.pt
    python -m miniworld.train --world glyphs --seed 0 --out tests/fixtures/miniclip2.pt

The model is built from ``tests/fixtures/miniclip.json`` through open_clip exactly as proxysort builds
it, so the saved state dict loads through ``proxysort.encoders.load_clip``. Images are rendered once into
memory (uint8); every step draws fresh captions, so the model sees each image under many partial
descriptions. Text is run truncated to the longest caption: exact, because the text mask is causal and
pooling reads the end-of-text row, and it makes the text tower about 4x cheaper than 77 tokens.

Runs on one torch thread by default: on a CPU shared with other jobs, two OpenMP threads spin-wait on
each other and a step took 4-10x longer. The learning rate is constant after warm-up and the weights are
written every ``--log-every`` steps, so stopping a run early leaves exactly what ``--steps`` equal to the
last logged step would have produced.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np

from miniworld.worlds import WORLDS, World, get_world

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "miniclip.json"
#: Longest caption the generator makes is 20 BPE tokens; +2 for start/end, rounded up.
TEXT_LEN = 24
#: The normalisation open_clip's preprocess applies (OpenAI mean/std), so training sees what users feed.
_MEAN = (0.48145466, 0.4578275, 0.40821073)
_STD = (0.26862954, 0.26130258, 0.27577711)


def build_model(config: Path):
    """The open_clip model for ``config``, registered under its file stem as proxysort does."""
    import open_clip

    open_clip.add_model_config(config)
    return open_clip.create_model(config.stem, pretrained=None, device="cpu"), open_clip.get_tokenizer(config.stem)


def to_tensor(images: np.ndarray):
    """uint8 N×H×W×3 → normalised float N×3×H×W, as open_clip's preprocess produces for 64×64 input."""
    import torch

    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def encode_text_truncated(model, tokens):
    """``CLIP.encode_text`` on the first ``tokens.shape[1]`` positions (exact for a causal text tower)."""
    from open_clip.transformer import text_global_pool

    n = tokens.shape[1]
    x = model.token_embedding(tokens) + model.positional_embedding[:n]
    x = model.transformer(x, attn_mask=model.attn_mask[:n, :n])
    x = model.ln_final(x)
    x = text_global_pool(x, tokens, model.text_pool_type)
    return x @ model.text_projection


def matches(batch, mentioned):
    """B×B targets: 1 where caption j is true of image i (its own caption always is).

    This is the CLIP contrastive loss with every true caption as a positive. With plain one-hot targets a
    caption naming only "small" must beat the captions of the other ~40 small images in a batch of 128,
    an impossible task that only adds noise. (A one-hot run with a patch-16 vision tower left shape and
    pattern at chance after 1,000 steps; this loss with patch 8 learned pattern from step ~1,100. The two
    changes were made together, so their shares are not separated.) A mentioned value may be a tuple of
    values the caption is equally true of (the half-known world's confused pairs).
    """
    import torch

    attrs = [b.attrs() for b in batch]
    return torch.tensor(
        [[float(all(a[k] in v if isinstance(v, tuple) else a[k] == v for k, v in m.items())) for m in mentioned]
         for a in attrs]
    )


def zero_shot_accuracy(model, tokenizer, images, samples, world: World) -> dict[str, float]:
    """Per attribute, how often the world's zero-shot prompt ("... with a <concept> of <value>") is right."""
    import torch

    out = {}
    with torch.no_grad():
        feats = torch.nn.functional.normalize(model.encode_image(images), dim=-1)
        for name, values in world.attributes.items():
            prompts = [world.prompt.format(concept=name, value=v) for v in values]
            t = torch.nn.functional.normalize(model.encode_text(tokenizer(prompts)), dim=-1)
            pred = (feats @ t.T).argmax(1).numpy()
            truth = np.array([values.index(s.attrs()[name]) for s in samples])
            out[name] = float((pred == truth).mean())
    return out


def freeze_image_tower(model, weights: Path, pixels: np.ndarray, batch: int):
    """Load the image tower of ``weights`` into ``model``, freeze it, and return every photo's unit feature.

    The half-known world trains only a text tower against an image side that already separates its
    values; a frozen tower's features never change, so they are computed once (N×d) instead of per step.
    """
    import torch

    state = torch.load(weights, map_location="cpu")
    visual = {k: v.float() for k, v in state.items() if k.startswith("visual.")}
    missing = model.load_state_dict(visual, strict=False)
    assert not [k for k in missing.missing_keys if k.startswith("visual.")], missing
    model.visual.requires_grad_(False)
    model.visual.eval()
    with torch.no_grad():
        feats = [model.encode_image(to_tensor(pixels[i:i + batch])) for i in range(0, len(pixels), batch)]
    return torch.nn.functional.normalize(torch.cat(feats), dim=-1)


def _param_groups(model, weight_decay: float):
    """Weight decay on matrices only: decaying embeddings would shrink the 49k untrained token rows.
    Frozen parameters (the half-known world's image tower) are left out."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim < 2 or "embedding" in name or "logit_scale" in name:
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def train(args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    world = get_world(args.world)
    log = lambda msg: print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)  # noqa: E731

    start = time.time()
    samples = world.sample_attributes(args.images, args.seed, training=True)
    pixels = np.stack([world.render(s) for s in samples])
    val_samples = world.sample_attributes(args.val_images, args.seed + 10_000)
    val_images = to_tensor(np.stack([world.render(s) for s in val_samples]))
    log(f"rendered {len(samples)} training + {len(val_samples)} validation images in {time.time() - start:.0f}s")

    model, tokenizer = build_model(Path(args.config))
    frozen = freeze_image_tower(model, world.frozen_image, pixels, args.batch) if world.frozen_image else None
    if frozen is not None:
        log(f"image tower frozen from {world.frozen_image.name}; {len(frozen)} image features cached")
    model.train()
    if frozen is not None:
        model.visual.eval()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(_param_groups(model, args.weight_decay), lr=args.lr, betas=(0.9, 0.98), eps=1e-6)
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == sum(p.numel() for p in trainable)
    # Linear warm-up, then constant: the schedule does not depend on --steps, so the checkpoint written at
    # step s is exactly the result of a run with --steps s (training on a shared CPU may have to stop early).
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / args.warmup))
    gen = torch.Generator().manual_seed(args.seed)
    history = []
    for step in range(args.steps):
        idx = torch.randint(len(samples), (args.batch,), generator=gen)
        batch = [samples[i] for i in idx.tolist()]
        texts, mentioned = zip(*(world.caption_with_attributes(b, rng) for b in batch))
        tokens = tokenizer(list(texts))[:, :TEXT_LEN]
        if frozen is None:
            img = torch.nn.functional.normalize(model.encode_image(to_tensor(pixels[idx.numpy()])), dim=-1)
        else:
            img = frozen[idx]
        txt = torch.nn.functional.normalize(encode_text_truncated(model, tokens), dim=-1)
        logits = model.logit_scale.exp() * img @ txt.T
        match = matches(batch, mentioned)
        match.fill_diagonal_(1.0)  # a caption is true of its own photo, even one that names a confused value
        loss = 0.5 * (
            torch.nn.functional.cross_entropy(logits, match / match.sum(1, keepdim=True))
            + torch.nn.functional.cross_entropy(logits.T, match.T / match.T.sum(1, keepdim=True))
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        history.append(loss.item())
        if (step + 1) % args.log_every == 0 or step + 1 == args.steps:
            model.eval()
            acc = zero_shot_accuracy(model, tokenizer, val_images, val_samples, world)
            model.train()
            if frozen is not None:
                model.visual.eval()
            mean_loss = float(np.mean(history[-args.log_every:]))
            log(f"step {step + 1}/{args.steps} loss {mean_loss:.3f} scale {model.logit_scale.exp():.1f} "
                f"zero-shot acc " + " ".join(f"{k}={v:.2f}" for k, v in acc.items())
                + f" ({time.time() - start:.0f}s)")
            summary = {
                "world": args.world, "seed": args.seed, "steps": step + 1, "batch": args.batch, "images": args.images, "lr": args.lr,
                "threads": args.threads, "seconds": round(time.time() - start), "loss": mean_loss,
                "zero_shot_accuracy": acc,
            }
            save(model, Path(args.out), summary)
            log(f"saved {args.out} at step {step + 1}")
    return summary


def save(model, out: Path, summary: dict) -> None:
    """fp16 state dict (open_clip copies it into fp32 parameters on load) plus a JSON summary beside it."""
    import torch

    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16) for k, v in model.state_dict().items()}
    torch.save(state, out)
    out.with_suffix(".json.log").write_text(json.dumps(summary, indent=1) + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--world", default="shapes", choices=WORLDS,
                   help="shapes: the first world (miniclip.pt); glyphs: the second, plain captions (miniclip2.pt); "
                        "halfknown: the first world's frozen image tower, a text tower that confuses pairs (miniclip3b.pt)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="tests/fixtures/miniclip.pt")
    p.add_argument("--config", default=str(DEFAULT_CONFIG))
    p.add_argument("--images", type=int, default=20000, help="training images rendered into memory")
    p.add_argument("--val-images", type=int, default=600)
    p.add_argument("--steps", type=int, default=1900)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1.5e-3)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads; 1 is fastest on a shared CPU (OpenMP spin-waits collapse under contention)")
    p.add_argument("--log-every", type=int, default=100)
    return p.parse_args(argv)


if __name__ == "__main__":
    train(parse_args())
