"""Benchmark the proxy engine: one epoch forward+backward on each text path, and the default settings end to end.

Part 1 times one epoch (every image once, forward + backward of the alignment loss) through the
prefix-cached, truncated and full 77-token paths, in one run, on the same proxies and in the same batch
size (``--batch-size``, every path), and reports the largest output and gradient difference to the full
path. The full path is slow, so it runs on a subset of the images (a whole number of batches) and its time
is compared per image (the output says so). Threads are the same for every path (one process; set
``OMP_NUM_THREADS`` and ``--threads``).
Part 2 runs ``learn_proxies`` with the default ``ProxyConfig`` on more images and reports the wall time.

    OMP_NUM_THREADS=1 python -m benchmarks.proxy_step --threads 1          # ViT-B-32, CPU, 512 / 3000 images
    python -m benchmarks.proxy_step --device cuda --batch-size 256 --full-subset 256 --default-images 10000

Random weights: the cost of the text path does not depend on the weights' values.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _unit_rows(n: int, d: int, seed: int):
    import numpy as np

    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _epoch(encoder, proxies, X, batch_size: int, sync) -> tuple[float, "object", "object"]:
    """Seconds for one forward+backward pass over all rows, plus the outputs and input gradients."""
    import torch

    outs, grads = [], []
    sync()
    start = time.perf_counter()
    for s in range(0, proxies.shape[0], batch_size):
        rows = proxies[s : s + batch_size].clone().requires_grad_(True)
        h = encoder.encode(rows)
        (1.0 - (h * X[s : s + batch_size]).sum(dim=-1)).sum().backward()
        outs.append(h.detach())
        grads.append(rows.grad)
    sync()
    return time.perf_counter() - start, torch.cat(outs), torch.cat(grads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--images", type=int, default=512, help="images for the per-path epoch")
    parser.add_argument("--full-subset", type=int, default=64, help="images the full 77-token path runs on")
    parser.add_argument("--batch-size", type=int, default=32, help="rows per forward+backward, on every path")
    parser.add_argument("--default-images", type=int, default=3000, help="images for the default-settings run (0: skip)")
    parser.add_argument("--epochs", type=int, default=None, help="override the default epoch cap in part 2")
    parser.add_argument("--repeats", type=int, default=3, help="part 1: rounds over the paths, best time kept")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from proxysort.encoders import ModelSpec, load_clip
    from proxysort.proxy import Concept, ProxyConfig, learn_proxies
    from proxysort.textpath import PromptEncoder

    clip = load_clip(ModelSpec(args.model, "none", args.device))
    device = clip.device
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    print(f"model {args.model} (random weights), device {device}, torch threads {torch.get_num_threads()}")

    concept = Concept("color", ("red", "green", "blue", "yellow", "orange", "purple", "white", "black"), noun="fruit")
    encoders = {p: PromptEncoder(clip, concept.prompt, path=p) for p in ("prefix", "truncated", "full")}
    enc = encoders["prefix"]
    print(f"template {concept.prompt!r}: placeholder at {enc.position}, EOT at {enc.eot}, "
          f"{enc.eot + 1 - enc.position} rows per step with the prefix cache, {enc.eot + 1} truncated, "
          f"{enc.ids.shape[1]} full")

    G = torch.stack([enc.word_embedding(w) for w in concept.words])
    gen = torch.Generator().manual_seed(0)
    mix = torch.randn(args.images, len(concept.words), generator=gen).softmax(dim=-1).to(device)
    proxies = mix @ G
    X = torch.as_tensor(_unit_rows(args.images, clip.embed_dim, 1), device=device)

    # Rounds interleave the paths so that a busy machine slows them alike; the best round is kept. Every
    # path runs in batches of the same size; the full path on fewer images, a whole number of batches.
    batch = min(args.batch_size, args.images)
    k = max(batch, min(args.full_subset, args.images) // batch * batch)
    results: dict[str, tuple] = {}
    for _ in range(max(args.repeats, 1)):
        for path in ("prefix", "truncated", "full"):
            n = k if path == "full" else args.images
            secs, out, grad = _epoch(encoders[path], proxies[:n], X[:n], batch, sync)
            if path not in results or secs / n < results[path][0]:
                results[path] = (secs / n, out, grad)
    out_full, grad_full = results["full"][1:]

    full_per = results["full"][0]
    print(f"\none epoch forward+backward, {args.images} images in batches of {batch} on every path (full path "
          f"timed on {k} images, scaled per image; best of {max(args.repeats, 1)} interleaved rounds; "
          f"{torch.get_num_threads()} torch threads, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}):")
    print(f"{'path':<10} {'ms/image':>9} {'epoch s':>8} {'speed-up':>9} {'cost/full':>10} {'max |out-full|':>15} "
          f"{'max |grad-full|':>16}")
    for path, (per, out, grad) in results.items():
        d_out = (out[:k] - out_full).abs().max().item()
        d_grad = (grad[:k] - grad_full).abs().max().item()
        print(f"{path:<10} {per * 1e3:9.3f} {per * args.images:8.2f} {full_per / per:8.1f}x {'1/%.0f' % (full_per / per):>10} "
              f"{d_out:15.2e} {d_grad:16.2e}")

    if args.default_images:
        X2 = _unit_rows(args.default_images, clip.embed_dim, 2)
        config = ProxyConfig(epochs=args.epochs)
        batch = (config.gpu_batch_size or "auto") if device.type == "cuda" else config.batch_size
        start = time.perf_counter()
        (result,) = learn_proxies(X2, [concept], clip, config)
        sync()
        wall = time.perf_counter() - start
        print(f"\nlearn_proxies, default settings (mode {config.mode}, path {config.path}, batch {batch}, "
              f"epoch cap {args.epochs or 'default'}), {args.default_images} images, {len(concept.words)} words: "
              f"{wall:.1f} s wall, {result.epochs_run} epochs run, loss {result.loss_history[0]:.4f} -> "
              f"{result.loss_history[-1]:.4f}")


if __name__ == "__main__":
    main()
