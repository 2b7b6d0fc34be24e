# Host-only check of kernels/conv3x3.cu without a GPU: the kernel's index expressions (shared layout, ldmatrix
# row addresses, mma.sync m16n8k16 fragments per the PTX ISA, epilogue masks, PixelShuffle) replayed in numpy for
# one block per tile and compared with a direct convolution. Keep in step with the kernel. Run: python3 sim_conv3x3.py
import numpy as np
rng = np.random.default_rng(0)
def run(H, W, cin, cout_pad, t0, count, offset, shuffle=0):
    x = rng.standard_normal((H*W, cin)).astype(np.float32)
    w = rng.standard_normal((cout_pad, 9*cin)).astype(np.float32)
    bias = rng.standard_normal(cout_pad).astype(np.float32)
    y_init = rng.standard_normal((count, cout_pad)).astype(np.float32)
    # reference
    xi = np.zeros((H+2, W+2, cin), np.float32); xi[1:-1,1:-1] = x.reshape(H, W, cin) - offset
    ref = np.zeros((H*W, cout_pad), np.float64)
    for tap in range(9):
        dy, dx = divmod(tap, 3)
        ref += xi[dy:dy+H, dx:dx+W].reshape(H*W, cin) @ w[:, tap*cin:(tap+1)*cin].T.astype(np.float64)
    ref += bias
    kTileH, kTileW, kHaloW, kCout = 8, 16, 18, 64
    hl, wl = cin + 8, 9*cin + 8
    row_first, row_last = t0 // W, (t0+count-1)//W
    tile_rows = -(-(row_last-row_first+1)//kTileH); tile_cols = -(-W//kTileW)
    y = y_init.copy()
    img = np.zeros((H*shuffle, W*shuffle, 3)) if shuffle else None
    for by in range(-(-cout_pad//kCout)):
        co0 = by*kCout
        ws = np.zeros(kCout*wl, np.float32)
        for r in range(kCout):
            if co0 + r < cout_pad: ws[r*wl:r*wl+9*cin] = w[co0+r]
        for tile in range(tile_rows*tile_cols):
            ty, tx = divmod(tile, tile_cols); y0 = row_first + ty*kTileH; x0 = tx*kTileW
            halo = np.zeros(180*hl, np.float32)
            for p in range(180):
                hy, hx = divmod(p, kHaloW); gy, gx = y0-1+hy, x0-1+hx
                v = x[gy*W+gx] if (0 <= gy < H and 0 <= gx < W) else np.full(cin, offset, np.float32)
                halo[p*hl:p*hl+cin] = v - offset
            for warp in range(8):
                wm, wn = warp % 4, warp // 4
                n_warp = min(cout_pad-co0, kCout) - 32*wn
                n8 = 4 if n_warp > 16 else 2
                acc = np.zeros((32, 2, 4, 4))  # lane, mi, j, e
                if n_warp > 0:
                    a_base = [(2*wm*kHaloW + l % 16)*hl + (l//16)*8 for l in range(32)]
                    b_base = [(32*wn + l % 8 + (l//16)*8)*wl + ((l//8) % 2)*8 for l in range(32)]
                    def ldm(buf, addrs):  # returns regs[lane][i] = (2 halves)
                        regs = np.zeros((32, 4, 2))
                        for i in range(4):
                            for l in range(32):
                                r = l // 4; a = addrs[8*i + r] + 2*(l % 4)
                                regs[l, i] = buf[a:a+2]
                        return regs
                    for tap in range(9):
                        dy, dx = divmod(tap, 3)
                        for kc in range(0, cin, 16):
                            A = [ldm(halo, [a + (dy*kHaloW+dx)*hl + kc + mi*kHaloW*hl for a in a_base]) for mi in range(2)]
                            B = [ldm(ws, [b + tap*cin + kc + nb*16*wl for b in b_base]) for nb in range(n8//2)]
                            for mi in range(2):
                                for j in range(n8):
                                    a = A[mi]; b0 = B[j//2][:, (j % 2)*2]; b1 = B[j//2][:, (j % 2)*2+1]
                                    Am = np.zeros((16, 16)); Bm = np.zeros((16, 8))
                                    for l in range(32):
                                        g, t = l//4, l % 4
                                        Am[g, 2*t:2*t+2] = a[l, 0]; Am[g+8, 2*t:2*t+2] = a[l, 1]
                                        Am[g, 2*t+8:2*t+10] = a[l, 2]; Am[g+8, 2*t+8:2*t+10] = a[l, 3]
                                        Bm[2*t:2*t+2, g] = b0[l]; Bm[2*t+8:2*t+10, g] = b1[l]
                                    Cm = Am @ Bm
                                    for l in range(32):
                                        g, t = l//4, l % 4
                                        acc[l, mi, j] += [Cm[g, 2*t], Cm[g, 2*t+1], Cm[g+8, 2*t], Cm[g+8, 2*t+1]]
                for l in range(32):
                    n_lane = 32*wn + 2*(l % 4)
                    for mi in range(2):
                        for h in range(2):
                            py, px = y0 + 2*wm + mi, x0 + l//4 + 8*h
                            t = py*W + px
                            if px >= W or t < t0 or t >= t0+count: continue
                            for j in range(4):
                                for e in range(2):
                                    ch = co0 + n_lane + 8*j + e
                                    v = acc[l, mi, j, 2*h+e] + bias[ch] if ch < cout_pad else None
                                    if shuffle:
                                        s = shuffle
                                        if ch >= 3*s*s: continue
                                        c, ij = divmod(ch, s*s); i, jj = divmod(ij, s)
                                        img[py*s+i, px*s+jj, c] = v + 0.5
                                    else:
                                        if n_lane + 8*j >= n_warp + 32*wn: continue
                                        y[t-t0, ch] += v
    if shuffle:
        s = shuffle; r = ref[:, :3*s*s].reshape(H, W, 3, s, s).transpose(0, 3, 1, 4, 2).reshape(H*s, W*s, 3) + 0.5
        return np.abs(img - r).max()
    return np.abs(y - (y_init + ref[t0:t0+count])).max()
for args in [(5, 7, 16, 64, 0, 35, 0.0), (17, 33, 32, 48, 0, 17*33, 0.25), (9, 20, 16, 28, 37, 74, 0.5),
             (3, 5, 16, 128, 0, 15, 0.0), (1, 1, 16, 12, 0, 1, 0.0)]:
    print(args, run(*args))
print('shuffle s3', run(5, 7, 16, 28, 0, 35, 0.0, shuffle=3))
print('shuffle s4', run(9, 17, 16, 48, 0, 153, 0.0, shuffle=4))
print('shuffle s2', run(4, 3, 16, 12, 0, 12, 0.0, shuffle=2))
