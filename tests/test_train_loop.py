"""The training loop: resume after a kill continues exactly, checkpoints, eval hooks, curves, errors."""

import pytest
import torch

from avfh_core.config import setup
from avfh_core.train.loop import TrainLog, train_loop


def make(seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Dropout(0.2), torch.nn.Linear(8, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    return net, opt


def batch_fn(step):
    g = torch.Generator().manual_seed(1000 + step)
    x = torch.randn(8, 4, generator=g)
    return x, x.sum(1, keepdim=True)


def step_fn_for(net, opt):
    def step_fn(batch, step):
        x, y = batch
        loss = (net(x) - y).square().mean()  # dropout uses the global RNG: resume must restore it
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"mse": loss.item()}

    return step_fn


def test_resume_after_kill_gives_identical_weights(tmp_path):
    cfg = setup("smoke", seed=0, device="cpu")
    net, opt = make()
    log = train_loop(step_fn_for(net, opt), {"net": net}, {"net": opt}, batch_fn, 10, cfg=cfg,
                     checkpoint_path=tmp_path / "a.pt", checkpoint_every=5, progress=False)
    assert log.steps_done == 10 and len(log.history["mse"]) == 10

    torch.manual_seed(0)
    net2, opt2 = make()
    train_loop(step_fn_for(net2, opt2), {"net": net2}, {"net": opt2}, batch_fn, 10, cfg=cfg,
               checkpoint_path=tmp_path / "b.pt", checkpoint_every=5, progress=False, stop_after=5)
    torch.manual_seed(123)  # a fresh process: different global RNG state, fresh weights
    net3, opt3 = make(seed=7)
    log3 = train_loop(step_fn_for(net3, opt3), {"net": net3}, {"net": opt3}, batch_fn, 10, cfg=cfg,
                      checkpoint_path=tmp_path / "b.pt", checkpoint_every=5, progress=False)
    assert log3.resumed_from == 5
    for p, q in zip(net.state_dict().values(), net3.state_dict().values()):
        assert torch.equal(p, q)
    assert log3.history["mse"] == log.history["mse"]


def test_loss_decreases_and_eval_hook_runs(tmp_path):
    net, opt = make()
    seen = []

    def eval_fn(step):
        assert not net.training
        seen.append(step)
        return {"val": 1.0}

    log = train_loop(step_fn_for(net, opt), {"net": net}, {"net": opt}, batch_fn, 30, eval_fn=eval_fn,
                     eval_every=10, progress=False)
    assert seen == [10, 20, 30] and [e["step"] for e in log.evals] == seen
    h = log.history["mse"]
    assert sum(h[-5:]) < sum(h[:5])
    assert len(log.smoothed("mse", 5)) == 30


def test_log_records_missing_terms_as_nan():
    log = TrainLog()
    log.record({"a": 1.0})
    log.record({"a": 2.0, "b": 3.0})
    assert log.history["a"] == [1.0, 2.0]
    assert log.history["b"][1] == 3.0 and log.history["b"][0] != log.history["b"][0]


def test_bad_arguments():
    net, opt = make()
    with pytest.raises(ValueError, match="steps"):
        train_loop(step_fn_for(net, opt), {"net": net}, {"net": opt}, batch_fn, -1)
    with pytest.raises(ValueError, match="checkpoint_path"):
        train_loop(step_fn_for(net, opt), {"net": net}, {"net": opt}, batch_fn, 2, checkpoint_every=1)


def _ddp_worker(r, port, out_dir):
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(r), LOCAL_RANK=str(r))
    from avfh_core.train.loop import init_distributed, rank, train_loop

    torch.set_num_threads(1)
    assert init_distributed() and rank() == r
    net, opt = make()

    def shard(step):  # each rank draws half of the full batch
        x, y = batch_fn(step)
        return x[4 * r:4 * r + 4], y[4 * r:4 * r + 4]

    def step_fn(batch, step):
        x, y = batch
        loss = (net[0](x).tanh() @ net[3].weight.T + net[3].bias - y).square().mean()  # no dropout
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"mse": loss.item()}

    train_loop(step_fn, {"net": net}, {"net": opt}, shard, 3, progress=False)
    torch.save(net.state_dict(), f"{out_dir}/rank{r}.pt")
    import torch.distributed as dist

    dist.destroy_process_group()


@pytest.mark.slow
def test_data_parallel_over_two_processes_equals_one_process_on_the_full_batch(tmp_path):
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(port, str(tmp_path)), nprocs=2, join=True)
    w0, w1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    net, opt = make()

    def step_fn(batch, step):
        x, y = batch
        loss = (net[0](x).tanh() @ net[3].weight.T + net[3].bias - y).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"mse": loss.item()}

    train_loop(step_fn, {"net": net}, {"net": opt}, batch_fn, 3, progress=False)
    for k, v in net.state_dict().items():
        torch.testing.assert_close(w0[k], w1[k], rtol=0, atol=0)
        torch.testing.assert_close(w0[k], v, rtol=1e-5, atol=1e-6)
