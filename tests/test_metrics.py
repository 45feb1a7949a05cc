"""avfh_core.metrics pinned to scikit-image (PSNR/SSIM), the erqa package (ERQA) and invariances (NLMD)."""

import math

import numpy as np
import pytest
import torch

from avfh_core.metrics import (
    box_mask,
    erqa,
    nlmd,
    psnr,
    psnr_per_frame,
    region_scores,
    rgb_to_y,
    ssim,
    ssim_map,
    ssim_vh,
    ssim_vt,
    video_psnr,
)
from avfh_core.metrics.erqa import canny, to_uint8_bgr

skimage = pytest.importorskip("skimage")
from skimage import data, filters, transform  # noqa: E402
from skimage import metrics as skm  # noqa: E402


@pytest.fixture(scope="module")
def photo():
    """scikit-image's astronaut, 128x128, float64 HWC in [0,1]."""
    return data.astronaut()[40:424:3, 80:464:3] / 255.0


def degradations(img):
    rng = np.random.default_rng(0)
    small = transform.resize(img, (32, 32), anti_aliasing=True)
    return {
        "blur": filters.gaussian(img, 1.5, channel_axis=-1),
        "noise": np.clip(img + 0.05 * rng.standard_normal(img.shape), 0, 1),
        "bicubic_x4": np.clip(transform.resize(small, img.shape[:2], order=3), 0, 1),
        "jitter": np.clip(np.roll(img, 1, axis=1) * 0.9 + 0.05, 0, 1),
    }


def t(img):
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)


def y_ref(img):  # BT.601 Y/255 from the formula, in numpy
    return (16 + 65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]) / 255.0


@pytest.mark.parametrize("name", ["blur", "noise", "bicubic_x4", "jitter"])
def test_psnr_ssim_match_skimage_rgb_and_y(photo, name):
    deg = degradations(photo)[name]
    ours_rgb = (psnr(t(deg), t(photo), y_channel=False).item(), ssim(t(deg), t(photo), y_channel=False).item())
    ref_rgb = (skm.peak_signal_noise_ratio(photo, deg, data_range=1),
               skm.structural_similarity(photo, deg, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                         data_range=1, channel_axis=-1))
    assert ours_rgb[0] == pytest.approx(ref_rgb[0], abs=1e-3)
    assert ours_rgb[1] == pytest.approx(ref_rgb[1], abs=1e-4)
    c = 4
    yp, yd = y_ref(photo)[c:-c, c:-c], y_ref(deg)[c:-c, c:-c]
    ours_y = (psnr(t(deg), t(photo), crop=c).item(), ssim(t(deg), t(photo), crop=c).item())
    ref_y = (skm.peak_signal_noise_ratio(yp, yd, data_range=1),
             skm.structural_similarity(yp, yd, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                       data_range=1))
    assert ours_y[0] == pytest.approx(ref_y[0], abs=1e-3)
    assert ours_y[1] == pytest.approx(ref_y[1], abs=1e-4)


def test_batched_equals_one_by_one(photo):
    degs = torch.stack([t(d) for d in degradations(photo).values()]).float()
    gt = t(photo).float().expand_as(degs)
    batch = ssim(degs.view(2, 2, 3, 128, 128), gt.reshape(2, 2, 3, 128, 128))
    assert batch.shape == (2, 2)
    single = torch.stack([ssim(d, g) for d, g in zip(degs, gt)])
    assert torch.allclose(batch.reshape(-1), single, atol=1e-12)
    assert psnr(degs, gt).shape == (4,)


def test_rgb_to_y_range():
    assert rgb_to_y(torch.zeros(3, 2, 2)).flatten()[0].item() == pytest.approx(16 / 255)
    assert rgb_to_y(torch.ones(3, 2, 2)).flatten()[0].item() == pytest.approx(235 / 255, abs=1e-6)


def test_identical_images_and_region_mask(photo):
    x = t(photo)
    assert math.isinf(psnr(x, x).item()) and ssim(x, x).item() == pytest.approx(1.0)
    y = x.clone()
    y[:, 100:, :] = 0.5 * y[:, 100:, :]  # damage the bottom only
    m = box_mask((128, 128), (0, 0, 128, 90))
    assert math.isinf(psnr(y, x, mask=m).item())  # the mask excludes the damage
    r = region_scores(y, x, (10, 100, 60, 128))
    assert r["psnr"].item() < 30 and r["ssim"].item() < 1
    per_image = box_mask((128, 128), torch.tensor([[0, 0, 128, 90], [0, 90, 128, 128]]))
    s = psnr(torch.stack([y, y]), torch.stack([x, x]), mask=per_image)
    assert math.isinf(s[0].item()) and s[1].item() < 40


def test_bad_input_is_a_clear_error():
    x = torch.rand(3, 32, 32)
    with pytest.raises(TypeError, match="uint8"):
        ssim((x * 255).to(torch.uint8), x)
    with pytest.raises(ValueError, match="divide by 255"):
        psnr(x * 255, x)
    with pytest.raises(ValueError, match="same shape"):
        ssim(x[..., :30], x)
    with pytest.raises(ValueError, match="NaN"):
        psnr(torch.where(x > 0.5, torch.nan, x), x)
    with pytest.raises(ValueError, match="3 channels"):
        psnr(x[:2], x[:2])  # the Y channel needs RGB
    with pytest.raises(ValueError, match="crop"):
        psnr(x, x, crop=-1)


def test_ssim_window_too_big_names_the_size():
    with pytest.raises(ValueError, match="SSIM window"):
        ssim(torch.rand(3, 10, 10), torch.rand(3, 10, 10))
    with pytest.raises(ValueError, match="same shape"):
        psnr(torch.rand(3, 16, 16), torch.rand(3, 16, 15))


def test_video_metrics():
    g = torch.rand(2, 12, 3, 24, 24)
    x = (g + 0.05 * torch.randn_like(g)).clamp(0, 1)
    vp = video_psnr(x, g)
    mse = ((x.double() - g.double()) ** 2).mean(dim=(1, 2, 3, 4))
    assert torch.allclose(vp, 10 * torch.log10(1 / mse))
    assert video_psnr(g, g).tolist() == [100.0, 100.0]  # the cap of eq. 11
    assert psnr_per_frame(x, g).shape == (2, 12)
    assert torch.allclose(ssim_vh(x, g), ssim(x, g, y_channel=False).mean(dim=1))
    vt = ssim_vt(x, g)
    assert vt.shape == (2,) and (vt < 1).all() and ssim_vt(g, g).allclose(torch.ones(2, dtype=torch.float64))
    # a temporally shuffled video keeps SSIM_vh but loses SSIM_vt
    perm = torch.randperm(12)
    smooth = torch.linspace(0, 1, 12).view(1, 12, 1, 1, 1).expand(1, 12, 3, 24, 24).contiguous()
    assert ssim_vh(smooth[:, perm], smooth[:, perm]).item() == pytest.approx(1.0)
    assert ssim_vt(smooth[:, perm], smooth).item() < 0.9
    with pytest.raises(ValueError, match="11 frames"):
        ssim_vt(g[:, :5], g[:, :5])


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_erqa_matches_reference_package(photo, version):
    ref = pytest.importorskip("erqa")
    gt = (t(photo).float() * 255).round() / 255
    metric = ref.ERQA(version=version)
    for name, deg in degradations(photo).items():
        x = (t(deg).float() * 255).round() / 255
        expected = metric(to_uint8_bgr(x).numpy(), to_uint8_bgr(gt).numpy())
        assert erqa(x, gt, version).item() == pytest.approx(expected, abs=1e-3), name
    shifted = torch.roll(gt, (2, -1), (1, 2))  # a global shift is compensated
    assert erqa(shifted, gt, version).item() == pytest.approx(
        metric(to_uint8_bgr(shifted).numpy(), to_uint8_bgr(gt).numpy()), abs=1e-3)
    batch = erqa(torch.stack([gt, shifted]), torch.stack([gt, gt]), version)
    assert batch.shape == (2,) and batch[0].item() == 1.0


def test_canny_matches_opencv(photo):
    cv2 = pytest.importorskip("cv2")
    imgs = [(deg * 255).round().astype(np.uint8)[..., ::-1].copy() for deg in degradations(photo).values()]
    ours = canny(torch.from_numpy(np.stack(imgs)))
    for k, im in enumerate(imgs):
        assert np.array_equal(ours[k].numpy(), cv2.Canny(im, 100, 200) > 0)


def test_erqa_bad_version():
    with pytest.raises(ValueError, match="version"):
        erqa(torch.rand(3, 16, 16), torch.rand(3, 16, 16), "2.0")


def _face_like(n_frames=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n_frames, 68, 2, generator=g, dtype=torch.float64) * 50 + 20


def test_nlmd_similarity_invariance_and_zero():
    gt = _face_like()
    assert nlmd(gt, gt).item() == pytest.approx(0.0, abs=1e-9)
    th = 0.7
    rot = torch.tensor([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]], dtype=torch.float64)
    moved = 2.5 * gt @ rot.T + torch.tensor([13.0, -4.0], dtype=torch.float64)
    assert nlmd(moved, gt).item() == pytest.approx(0.0, abs=1e-9)
    noisy = gt + torch.randn_like(gt)
    d = nlmd(noisy, gt)
    assert d.item() > 0 and nlmd(2.5 * noisy @ rot.T + 3, gt).item() == pytest.approx(d.item(), abs=1e-9)
    mouth_noise = gt.clone()
    mouth_noise[:, 48:] += torch.randn(4, 20, 2, dtype=torch.float64)
    assert nlmd(mouth_noise, gt, mouth_only=True).item() > nlmd(mouth_noise, gt).item()
    assert nlmd(gt.expand(3, 4, 68, 2), gt.expand(3, 4, 68, 2)).shape == (3,)


def test_nlmd_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        nlmd(torch.rand(4, 68, 2), torch.rand(4, 67, 2))
    with pytest.raises(ValueError, match="NaN"):
        nlmd(torch.full((4, 68, 2), float("nan")), torch.rand(4, 68, 2))


def test_ssim_vt_is_ssim_of_vertical_temporal_slices():
    g = torch.Generator().manual_seed(3)
    y = torch.rand(12, 3, 14, 5, generator=g)
    x = (y + 0.1 * torch.rand(12, 3, 14, 5, generator=g)).clamp(0, 1)
    slices = lambda v: v.permute(3, 1, 2, 0)  # [T, C, H, W] -> [W, C, H, T]: one image per column
    expected = ssim(slices(x), slices(y), y_channel=False).mean()
    assert ssim_vt(x, y).item() == pytest.approx(expected.item(), abs=1e-9)


def test_mask_box_equals_crop_and_small_box_gives_nan():
    g = torch.Generator().manual_seed(4)
    y = torch.rand(3, 40, 40, generator=g)
    x = (y + 0.05 * torch.rand(3, 40, 40, generator=g)).clamp(0, 1)
    box = (5, 8, 30, 33)
    via_mask = psnr(x, y, mask=box_mask((40, 40), box))
    via_crop = region_scores(x, y, box)["psnr"]
    assert via_mask.item() == pytest.approx(via_crop.item(), abs=1e-9)
    assert math.isnan(region_scores(x, y, (0, 0, 8, 8))["ssim"].item())
    with pytest.raises(ValueError, match="does not overlap"):
        region_scores(x, y, (50, 50, 60, 60))


def test_psnr_float32_path_equals_float64_with_mask_crop_and_y():
    g = torch.Generator().manual_seed(5)
    y = (torch.rand(5, 3, 20, 24, generator=g) * 255).round() / 255  # 8-bit data in float32
    x = ((y + 0.03 * torch.randn(5, 3, 20, 24, generator=g)).clamp(0, 1) * 255).round() / 255
    m = box_mask((20, 24), torch.tensor([[2, 3, 20, 18]] * 5))
    for kw in (dict(y_channel=False), dict(y_channel=True, crop=2), dict(y_channel=True, mask=m)):
        xd, yd = x.double(), y.double()
        if kw.get("y_channel"):
            xd, yd = rgb_to_y(xd), rgb_to_y(yd)
        c = kw.get("crop", 0)
        err = (xd - yd) ** 2
        if c:
            err = err[..., c:-c, c:-c]
        if "mask" in kw:
            w = m[:, None].expand_as(err)
            expected = 10 * torch.log10(1 / ((err * w).sum((1, 2, 3)) / w.sum((1, 2, 3))))
        else:
            expected = 10 * torch.log10(1 / err.mean((1, 2, 3)))
        got = psnr(x, y, **kw)
        assert got.dtype == torch.float64 and torch.allclose(got, expected, atol=1e-4), kw
        assert torch.allclose(psnr(x.double(), y.double(), **kw), expected, atol=1e-9), kw  # float64 stays float64


def test_ssim_chunks_and_ssim_map_dtypes(photo):
    import avfh_core.metrics.image as image

    degs = torch.stack([t(d) for d in degradations(photo).values()]).float()
    gt = t(photo).float().expand_as(degs).contiguous()
    whole = ssim(degs, gt, crop=4)
    old = image.SSIM_CHUNK_ELEMENTS
    try:
        image.SSIM_CHUNK_ELEMENTS = 1  # one image per chunk: the same numbers
        assert torch.allclose(ssim(degs, gt, crop=4), whole, atol=1e-12)
    finally:
        image.SSIM_CHUNK_ELEMENTS = old
    smap = image.ssim_map(degs.double(), gt.double())
    assert smap.dtype == torch.float64 and smap.shape == (4, 3, 118, 118)
    assert torch.allclose(smap.mean(dim=(1, 2, 3)), ssim(degs, gt, y_channel=False), atol=1e-6)


def test_erqa_shift_search_exact_and_near_ties_fall_back_to_float64(monkeypatch):
    import importlib

    ref = pytest.importorskip("erqa")
    erqa_mod = importlib.import_module("avfh_core.metrics.erqa")  # the module (the package re-exports the function)
    g = torch.Generator().manual_seed(6)
    b = torch.randint(0, 256, (3, 3, 11, 14), generator=g, dtype=torch.uint8)
    a = b.roll(1, -1).clone()
    a[0] = 7  # flat image vs random: many near-equal MSEs
    mses, bound = erqa_mod._shift_mses(a, b, torch.float32)
    exact = erqa_mod._shift_mses(a, b, torch.float64)[0]
    for n in range(3):  # the exact path equals the reference's numpy MSE for every shift
        img, gt = a[n].permute(1, 2, 0).numpy(), b[n].permute(1, 2, 0).numpy()
        expected = [np.mean((lambda p: (p[0].astype(float) - p[1].astype(float)) ** 2)(ref.erqa.shift2d(img, gt, i, j)))
                    for i in range(-3, 4) for j in range(-3, 4)]
        assert np.array_equal(exact[n].numpy(), np.array(expected))
    assert ((mses - exact).abs() <= bound[:, None]).all()  # the float32 bound holds
    # identical images: every shift but (0, 0) is far, so no fallback; a flat pair ties exactly -> first = (-3, -3)
    flat = torch.full((1, 3, 12, 12), 9, dtype=torch.uint8)
    calls = []
    shift_mses = erqa_mod._shift_mses
    monkeypatch.setattr(erqa_mod, "_shift_mses", lambda a, b, dt: calls.append((dt, len(a))) or shift_mses(a, b, dt))
    assert erqa_mod._best_shifts(torch.cat([b[:1, :, :11, :11].contiguous(), flat[..., :11, :11]]),
                                 torch.cat([b[:1, :, :11, :11].contiguous(), flat[..., :11, :11]])) == [(0, 0), (-3, -3)]
    assert calls == [(torch.float32, 2), (torch.float64, 1)]  # only the tied pair is redone exactly
    img, gt = a[0].permute(1, 2, 0).numpy(), b[0].permute(1, 2, 0).numpy()
    metric = ref.ERQA(version="1.1")
    x = a[0].flip(0).float() / 255  # back to RGB in [0, 1]
    y = b[0].flip(0).float() / 255
    assert erqa(x, y, "1.1").item() == pytest.approx(metric(img, gt), abs=1e-3)


def test_concurrent_chunks_equal_sequential(photo, monkeypatch):
    import importlib

    import avfh_core.metrics.image as image

    erqa_mod = importlib.import_module("avfh_core.metrics.erqa")
    degs = torch.stack([t(d) for d in degradations(photo).values()]).float()[..., :48, :48]
    x, y = (degs * 255).round() / 255, ((t(photo).float() * 255).round() / 255)[..., :48, :48].expand_as(degs)
    monkeypatch.setattr(image, "CHUNK_ELEMENTS", 1)  # one image per chunk: 4 chunks
    monkeypatch.setattr(image, "SSIM_CHUNK_ELEMENTS", 1)
    monkeypatch.setattr(erqa_mod, "CHUNK_PIXELS", 1)
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            results.append((psnr(x, y), ssim(x, y, crop=2), erqa(x, y, "1.1")))
            assert torch.get_num_threads() == n  # the pool restores the thread count
    finally:
        torch.set_num_threads(threads)
    for seq, par in zip(*results):
        assert torch.equal(seq, par) and not seq.is_inference()


def _chunked_inputs(photo, size=48):
    degs = torch.stack([t(d) for d in degradations(photo).values()]).float()[..., :size, :size]
    x = (degs * 255).round() / 255
    y = ((t(photo).float() * 255).round() / 255)[..., :size, :size].expand_as(degs).contiguous()
    return x, y


def _all_metrics(x, y):
    m = box_mask(tuple(x.shape[-2:]), (4, 6, 40, 44))
    return (psnr(x, y), psnr(x, y, y_channel=False, mask=m), ssim(x, y, crop=2), ssim(x, y, y_channel=False, mask=m),
            ssim_map(x, y), ssim_vt(x[:, None].expand(4, 11, 3, 48, 48), y[:, None].expand(4, 11, 3, 48, 48)),
            erqa(x, y, "1.1"))


def test_metrics_bit_identical_for_any_thread_count_and_count_restored(photo, monkeypatch):
    """The thread strategy (issue 16): the same bits whatever torch.get_num_threads() is, which is restored after
    each call, also when a chunk raises."""
    import avfh_core.metrics.image as image

    x, y = _chunked_inputs(photo)
    threads = torch.get_num_threads()
    try:
        for chunk in (2**16, 1):  # whole batch in one chunk, and one image per chunk
            monkeypatch.setattr(image, "CHUNK_ELEMENTS", chunk)
            monkeypatch.setattr(image, "SSIM_CHUNK_ELEMENTS", chunk)
            results = {}
            for n in (1, 2, 3):
                torch.set_num_threads(n)
                results[n] = _all_metrics(x, y)
                assert torch.get_num_threads() == n
                bad = x.clone()
                bad[-1, 0, 0, 0] = float("nan")  # the last chunk raises
                with pytest.raises(ValueError, match="NaN"):
                    ssim(bad, y)
                assert torch.get_num_threads() == n  # restored on error too
            for n in (2, 3):
                for a, b in zip(results[1], results[n]):
                    assert torch.equal(a, b), (chunk, n)
    finally:
        torch.set_num_threads(threads)


def test_psnr_ssim_chunks_run_single_threaded(photo, monkeypatch):
    """Each chunk's torch ops run with one intra-op thread (no OpenMP barriers to stall on a busy machine)."""
    import avfh_core.metrics.image as image

    if "backend: OpenMP" not in torch.__config__.parallel_info():
        pytest.skip("torch's native parallel backend: thread counts cannot change at run time")
    x, y = _chunked_inputs(photo)
    seen = []
    ssim_map32, squared_error = image._ssim_map32, image._squared_error
    monkeypatch.setattr(image, "_ssim_map32", lambda *a: seen.append(torch.get_num_threads()) or ssim_map32(*a))
    monkeypatch.setattr(image, "_squared_error", lambda *a: seen.append(torch.get_num_threads()) or squared_error(*a))
    monkeypatch.setattr(image, "SSIM_CHUNK_ELEMENTS", 1)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        psnr(x, y)
        ssim(x, y)
        image.ssim_map(x, y)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert seen == [1] * (1 + 4 + 1)  # psnr: one chunk; ssim: one image per chunk; ssim_map: whole


def test_concurrent_callers_keep_their_own_thread_counts(photo):
    """Two Python threads with different torch thread counts compute metrics at the same time: each gets the
    same numbers as alone and keeps its own count (torch's count is per thread)."""
    import threading

    if "backend: OpenMP" not in torch.__config__.parallel_info():
        pytest.skip("torch's native parallel backend: thread counts cannot change at run time")
    x, y = _chunked_inputs(photo)
    expected = _all_metrics(x, y)
    out, errors = {}, []
    start = threading.Barrier(2)

    def worker(n):
        try:
            torch.get_num_threads()  # torch's lazy per-thread init first, or it would overwrite the count set below
            torch.set_num_threads(n)
            start.wait()
            for _ in range(3):
                res = _all_metrics(x, y)
            out[n] = (res, torch.get_num_threads())
        except Exception as e:  # reported below
            errors.append(e)

    main_threads = torch.get_num_threads()
    try:
        ts = [threading.Thread(target=worker, args=(n,)) for n in (2, 3)]
        for th in ts:
            th.start()
        for th in ts:
            th.join()
    finally:
        torch.set_num_threads(main_threads)
    assert not errors, errors
    for n in (2, 3):
        res, count = out[n]
        assert count == n
        assert all(torch.equal(a, b) for a, b in zip(res, expected))


def _fresh_thread_count() -> int:
    """torch's thread count as a thread started now gets it (the process default)."""
    import threading

    seen = []
    th = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    th.start()
    th.join()
    return seen[0]


def test_metric_workers_leave_the_process_default_and_nest(photo, monkeypatch):
    """Starting the single-threaded workers changes no other thread's torch count, not even the default that new
    threads take; a chunk that calls a metric itself runs inline (no deadlock on the worker pool)."""
    import avfh_core.metrics._chunks as chunks

    x, y = _chunked_inputs(photo)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        default = _fresh_thread_count()
        chunks._forget_pool()  # new workers start below
        ssim(x, y)
        assert torch.get_num_threads() == 2 and _fresh_thread_count() == default
    finally:
        torch.set_num_threads(threads)
    nested = chunks.map_chunks(lambda k: ssim(x[k], y[k]), range(4), parallel=True)
    assert torch.equal(torch.stack(nested), ssim(x, y))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_metrics_work_in_a_forked_child(photo):
    """A child forked after the workers started (e.g. a DataLoader worker) gets its own workers, not a hang."""
    import multiprocessing as mp

    x, y = _chunked_inputs(photo)
    expected = ssim(x, y)  # the parent's workers exist now
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=lambda: queue.put(ssim(x, y).tolist()))
    child.start()
    try:
        got = queue.get(timeout=60)
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
    assert got == expected.tolist()
