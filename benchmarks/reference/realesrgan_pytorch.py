#!/usr/bin/python3
"""PyTorch reference for benchmarks/upscaler_benchmark.cpp (a measurement tool, not a dependency).

Real-ESRGAN x4plus: BasicSR's RRDBNet (23 blocks, 64 features, growth 32), random weights (seed 0),
on a random 256x256 image, untiled or tiled as Real-ESRGAN's tile_process (tile 128, pad 10).
One case per process so that peak RSS is the case's own; like the C++ bench, one timed run, no
warm-up. Reports wall time of the run, VmRSS before it, and the peak RSS (VmHWM after resetting it
through /proc/self/clear_refs once the model is built; ru_maxrss as a fallback).

  /usr/bin/python3 benchmarks/reference/realesrgan_pytorch.py --case untiled
  /usr/bin/python3 benchmarks/reference/realesrgan_pytorch.py --case tiled --tile 128 --pad 10
  /usr/bin/python3 benchmarks/reference/realesrgan_pytorch.py --case seams --pads 0 10 32   # max/mean |tiled-untiled|
"""
import argparse
import math
import resource
import time

import torch
from torch import nn
from torch.nn import functional as F


class ResidualDenseBlock(nn.Module):
    def __init__(self, num_feat=64, num_grow_ch=32):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x):
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    def __init__(self, num_feat, num_grow_ch=32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x):
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """BasicSR's RRDBNet at scale 4 (no pixel unshuffle)."""

    def __init__(self, num_in_ch=3, num_out_ch=3, num_feat=64, num_block=23, num_grow_ch=32):
        super().__init__()
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x):
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode='nearest')))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode='nearest')))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))


def tile_process(model, img, scale, tile_size, tile_pad):
    """Real-ESRGAN's RealESRGANer.tile_process (output starts as zeros, tiles cropped in)."""
    batch, channel, height, width = img.shape
    output = img.new_zeros((batch, channel, height * scale, width * scale))
    for y in range(math.ceil(height / tile_size)):
        for x in range(math.ceil(width / tile_size)):
            x0, y0 = x * tile_size, y * tile_size
            x1, y1 = min(x0 + tile_size, width), min(y0 + tile_size, height)
            px0, px1 = max(x0 - tile_pad, 0), min(x1 + tile_pad, width)
            py0, py1 = max(y0 - tile_pad, 0), min(y1 + tile_pad, height)
            out_tile = model(img[:, :, py0:py1, px0:px1])
            ox, oy = (x0 - px0) * scale, (y0 - py0) * scale
            output[:, :, y0 * scale:y1 * scale, x0 * scale:x1 * scale] = \
                out_tile[:, :, oy:oy + (y1 - y0) * scale, ox:ox + (x1 - x0) * scale]
    return output


def proc_status_mib(field):
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def reset_peak_rss():
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--case', choices=['untiled', 'tiled', 'seams'], required=True)
    p.add_argument('--side', type=int, default=256)
    p.add_argument('--blocks', type=int, default=23)
    p.add_argument('--tile', type=int, default=128)
    p.add_argument('--pad', type=int, default=10)
    p.add_argument('--pads', type=int, nargs='+', default=[10, 32], help='seams: contexts to try')
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = RRDBNet(num_block=a.blocks).eval()
    img = torch.rand(1, 3, a.side, a.side)

    with torch.inference_mode():
        if a.case == 'seams':
            ref = model(img)
            for pad in a.pads:
                d = (tile_process(model, img, 4, a.tile, pad) - ref).abs()
                print(f'seams side={a.side} blocks={a.blocks} tile={a.tile} pad={pad}: '
                      f'max_abs={d.max().item():.3g} mean_abs={d.mean().item():.3g} '
                      f'(output |mean|={ref.abs().mean().item():.3g}, std={ref.std().item():.3g})')
            return
        rss_before = proc_status_mib('VmRSS')
        reset = reset_peak_rss()
        t0 = time.perf_counter()
        out = tile_process(model, img, 4, a.tile, a.pad) if a.case == 'tiled' else model(img)
        ms = (time.perf_counter() - t0) * 1e3
    hwm = proc_status_mib('VmHWM') if reset else None
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f'pytorch {torch.__version__} case={a.case} side={a.side} blocks={a.blocks} '
          f'tile={a.tile if a.case == "tiled" else 0} pad={a.pad if a.case == "tiled" else 0} '
          f'threads={torch.get_num_threads()} out={tuple(out.shape)}: time_ms={ms:.0f} '
          f'rss_before_MiB={rss_before:.0f} peak_rss_MiB={(hwm if hwm is not None else maxrss):.0f} '
          f'ru_maxrss_MiB={maxrss:.0f}')


if __name__ == '__main__':
    main()
