#!/usr/bin/env python3
"""Measures, on a CUDA GPU, the numbers the memory planner (runtime/Bento.Runtime/Planning) estimates.

For Llama-shaped decoders (random bf16 weights, a static KV cache like the runtime's) it records:
  - the CUDA context and other non-torch memory,
  - the weights' bytes and the peak activation memory of a prefill of N tokens,
  - the CUDA-graph pool: decode steps captured for vLLM's capture sizes, largest first, sharing one pool as vLLM
    does; the pool's size after each capture (free device memory before/after) and the capture time,
  - the decode step time, eager and replayed, per captured batch size.

It uses PyTorch's CUDA graphs and caching allocator, which are LibTorch's, the library the C# runtime runs on.

Usage: python3 graph_pool_probe.py OUT.json [--shapes llama-3.2-1b,llama-3.1-8b] [--max-len 512]
The CPU path (no CUDA) runs the same model eagerly with a tiny shape, as a self-check of this script.
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

SHAPES = {
    # hidden, layers, intermediate, heads, kv_heads, vocab (the published configs)
    "llama-3.2-1b": dict(hidden=2048, layers=16, ffn=8192, heads=32, kv_heads=8, vocab=128256),
    "llama-3.1-8b": dict(hidden=4096, layers=32, ffn=14336, heads=32, kv_heads=8, vocab=128256),
    "tiny": dict(hidden=128, layers=2, ffn=256, heads=4, kv_heads=2, vocab=512),
}


def capture_sizes(max_num_seqs):
    """vLLM's default cudagraph_capture_sizes: 1, 2, 4, then 8..256 in steps of 8, capped at 2*max_num_seqs and 512."""
    sizes = [1, 2, 4] + list(range(8, 257, 8))
    cap = min(2 * max_num_seqs, 512)
    return [s for s in sizes if s <= cap]


class Llama(torch.nn.Module):
    def __init__(self, s, max_batch, max_len, dtype, device):
        super().__init__()
        self.s = s
        h, d = s["hidden"], s["hidden"] // s["heads"]
        self.head_dim = d

        def w(*shape):
            t = torch.empty(*shape, dtype=dtype, device=device)
            t.normal_(0, 0.02)
            return t

        self.embed = w(s["vocab"], h)
        self.layers = []
        for _ in range(s["layers"]):
            self.layers.append(dict(
                qkv=w((s["heads"] + 2 * s["kv_heads"]) * d, h),
                o=w(h, s["heads"] * d),
                gate_up=w(2 * s["ffn"], h),
                down=w(h, s["ffn"]),
                n1=torch.ones(h, dtype=dtype, device=device),
                n2=torch.ones(h, dtype=dtype, device=device),
            ))
        self.norm = torch.ones(h, dtype=dtype, device=device)
        self.lm_head = w(s["vocab"], h)
        # Static KV cache, [layer][k|v]: [max_batch, kv_heads, max_len, head_dim], as the runtime's slots.
        self.k = [torch.zeros(max_batch, s["kv_heads"], max_len, d, dtype=dtype, device=device) for _ in range(s["layers"])]
        self.v = [torch.zeros(max_batch, s["kv_heads"], max_len, d, dtype=dtype, device=device) for _ in range(s["layers"])]
        inv = 1.0 / (500000.0 ** (torch.arange(0, d, 2, device=device, dtype=torch.float32) / d))
        t = torch.arange(max_len, device=device, dtype=torch.float32)
        freqs = torch.outer(t, inv)
        self.cos, self.sin = freqs.cos().to(dtype), freqs.sin().to(dtype)
        self.max_len = max_len

    def weight_bytes(self):
        n = self.embed.numel() + self.lm_head.numel() + self.norm.numel()
        for l in self.layers:
            n += sum(t.numel() for t in l.values())
        return n * self.embed.element_size()

    def kv_bytes(self):
        return sum(t.numel() * t.element_size() for t in self.k + self.v)

    @staticmethod
    def rms(x, w):
        v = x.float().pow(2).mean(-1, keepdim=True)
        return (x.float() * torch.rsqrt(v + 1e-5)).to(x.dtype) * w

    def rope(self, x, pos):
        # x: [B, heads, T, d]; pos: [B, T]
        cos = self.cos[pos].unsqueeze(1)
        sin = self.sin[pos].unsqueeze(1)
        x1, x2 = x[..., : self.head_dim // 2], x[..., self.head_dim // 2:]
        return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)

    def forward(self, ids, pos):
        """ids, pos: [B, T] (T tokens of each of B sequences at positions pos); sequence i uses cache row i.
        Returns the last position's logits. Attention is grouped (no repeated keys) and reads the cache in place, so
        its temporaries are about what a paged-attention kernel needs, not a copy of the cache."""
        s, d = self.s, self.head_dim
        B, T = ids.shape
        kv, group = s["kv_heads"], s["heads"] // s["kv_heads"]
        x = self.embed[ids]
        key_pos = torch.arange(self.max_len, device=ids.device)
        visible = key_pos.view(1, 1, -1) <= pos.view(B, T, 1)            # [B, T, L]
        visible = visible.unsqueeze(1).repeat(1, 1, group, 1)              # [B, 1, group*T, L]
        rows = torch.arange(B, device=ids.device).view(B, 1).expand(B, T)
        for i, l in enumerate(self.layers):
            hN = self.rms(x, l["n1"])
            q, k, v = F.linear(hN, l["qkv"]).split([s["heads"] * d, kv * d, kv * d], dim=-1)
            q = self.rope(q.view(B, T, s["heads"], d).transpose(1, 2), pos)   # [B, heads, T, d]
            k = self.rope(k.view(B, T, kv, d).transpose(1, 2), pos)           # [B, kv, T, d]
            v = v.view(B, T, kv, d)
            kc, vc = self.k[i], self.v[i]
            kc[rows, :, pos] = k.transpose(1, 2)
            vc[rows, :, pos] = v
            keys, values = kc[:B], vc[:B]                                     # views: [B, kv, L, d]
            qg = q.reshape(B, kv, group * T, d)
            scores = torch.matmul(qg, keys.transpose(-1, -2)).float() * (1.0 / math.sqrt(d))
            scores = scores.masked_fill(~visible, float("-inf")).softmax(-1).to(x.dtype)
            attn = torch.matmul(scores, values).view(B, s["heads"], T, d)
            x = x + F.linear(attn.transpose(1, 2).reshape(B, T, -1), l["o"])
            hN = self.rms(x, l["n2"])
            gate, up = F.linear(hN, l["gate_up"]).chunk(2, dim=-1)
            x = x + F.linear(F.silu(gate) * up, l["down"])
        return F.linear(self.rms(x[:, -1], self.norm), self.lm_head)


def gib(b):
    return round(b / 2**30, 4)


def probe(name, s, max_len, max_num_seqs, prefill_tokens, device, dtype):
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        free0, total = torch.cuda.mem_get_info()
    sizes = capture_sizes(max_num_seqs) if cuda else [1, 2]
    max_batch = max(sizes)
    model = Llama(s, max_batch, max_len, dtype, device)
    result = dict(shape=name, config=s, dtype=str(dtype).replace("torch.", ""), max_len=max_len,
                  max_num_seqs=max_num_seqs, weight_bytes=model.weight_bytes(), kv_cache_bytes=model.kv_bytes(),
                  kv_bytes_per_token=2 * s["layers"] * s["kv_heads"] * model.head_dim * torch.tensor([], dtype=dtype).element_size())

    # Peak activations of one prefill of `prefill_tokens` tokens (vLLM's profile run).
    with torch.inference_mode():
        T = min(prefill_tokens, max_len)
        ids = torch.randint(0, s["vocab"], (1, T), device=device)
        pos = torch.arange(T, device=device).view(1, T)
        if cuda:
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
        logits = model(ids, pos)
        assert torch.isfinite(logits.float()).all(), "prefill produced non-finite logits"
        if cuda:
            torch.cuda.synchronize()
            result["prefill_tokens"] = T
            result["prefill_peak_activation_bytes"] = torch.cuda.max_memory_allocated() - base
        del logits

    if not cuda:
        # Self-check of the cache and mask logic: decoding 5 tokens one by one into an empty cache gives the same
        # logits as a 5-token prefill run after a 9-token prefill filled positions 5..8 (which the mask must hide).
        with torch.inference_mode():
            ids = torch.randint(0, s["vocab"], (2, 9))
            pos = torch.arange(9).view(1, 9).expand(2, 9).contiguous()
            for t in model.k + model.v:
                t.zero_()
            for t in range(5):
                step = model(ids[:, t:t + 1], pos[:, t:t + 1])
            model(ids, pos)
            prefix = model(ids[:, :5], pos[:, :5])
        result["cpu_selfcheck_max_abs_diff"] = float((prefix - step).abs().max())
        result["cpu_selfcheck_logit_scale"] = float(step.abs().max())
        assert result["cpu_selfcheck_max_abs_diff"] < 1e-4, result
        return result

    torch.cuda.synchronize()
    pool = torch.cuda.graph_pool_handle()
    graphs = {}
    captures = []
    static = {}
    with torch.inference_mode():
        torch.cuda.synchronize()
        free_before_all, _ = torch.cuda.mem_get_info()
        t_all = time.perf_counter()
        for b in sorted(sizes, reverse=True):
            ids = torch.zeros(b, 1, dtype=torch.long, device=device)
            pos = torch.full((b, 1), 7, dtype=torch.long, device=device)
            # Warm-up on a side stream before capture, as CUDA graphs require.
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(2):
                    model(ids, pos)
            torch.cuda.current_stream().wait_stream(stream)
            torch.cuda.synchronize()
            free_before, _ = torch.cuda.mem_get_info()
            t0 = time.perf_counter()
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g, pool=pool):
                out = model(ids, pos)
            torch.cuda.synchronize()
            free_after, _ = torch.cuda.mem_get_info()
            graphs[b] = g
            static[b] = (ids, pos, out)
            captures.append(dict(batch=b, capture_seconds=round(time.perf_counter() - t0, 4),
                                 device_bytes_taken=free_before - free_after))
        torch.cuda.synchronize()
        free_after_all, _ = torch.cuda.mem_get_info()
    result["capture_sizes"] = sorted(sizes)
    result["graph_pool_bytes"] = free_before_all - free_after_all
    result["graph_capture_seconds"] = round(time.perf_counter() - t_all, 3)
    result["captures"] = captures

    # Decode step time per batch size: eager vs graph replay (median of 20 after warm-up).
    timings = []
    with torch.inference_mode():
        for b in [x for x in sizes if x in (1, 2, 4, 8, 16, 32, 64, 128, 256)]:
            ids, pos, _ = static[b]

            def median_ms(fn):
                for _ in range(3):
                    fn()
                torch.cuda.synchronize()
                times = []
                for _ in range(20):
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    fn()
                    end.record()
                    end.synchronize()
                    times.append(start.elapsed_time(end))
                times.sort()
                return round(times[len(times) // 2], 4)

            eager = median_ms(lambda: model(ids, pos))
            graph = median_ms(graphs[b].replay)
            timings.append(dict(batch=b, eager_ms=eager, graph_ms=graph, speedup=round(eager / graph, 3)))
    result["decode_step"] = timings
    del graphs, static, model
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--shapes", default="llama-3.2-1b,llama-3.1-8b")
    ap.add_argument("--max-len", type=int, default=1024)
    ap.add_argument("--max-num-seqs", type=int, default=128)
    ap.add_argument("--prefill-tokens", type=int, default=1024)
    args = ap.parse_args()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    report = dict(torch=torch.__version__, cuda=torch.version.cuda, results=[])
    if cuda:
        torch.cuda.init()
        torch.empty(1, device=device)
        free, total = torch.cuda.mem_get_info()
        report.update(device=torch.cuda.get_device_name(0), total_bytes=total, free_bytes_at_start=free,
                      context_bytes=total - free)
    shapes = args.shapes.split(",") if cuda else ["tiny"]
    for name in shapes:
        t = time.perf_counter()
        try:
            r = probe(name, SHAPES[name], args.max_len, args.max_num_seqs, args.prefill_tokens, device,
                      torch.bfloat16 if cuda else torch.float32)
        except Exception as e:  # keep what the other shapes measured
            r = dict(shape=name, error=f"{type(e).__name__}: {e}")
        r["seconds"] = round(time.perf_counter() - t, 2)
        report["results"].append(r)
        print(json.dumps({k: v for k, v in r.items() if k not in ("captures",)}), flush=True)
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
