"""The diffusion core: schedule, transitions, posterior, guidance, training."""

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch

from hwdiff.diffusion.denoiser import DenoiserConfig, GraphDenoiser, timestep_embedding
from hwdiff.diffusion.graphs import GraphBatch
from hwdiff.diffusion.noise import CosineSchedule, MarginalTransitions
from hwdiff.diffusion.pipeline import Guidance, GuidedSampler, condition_tensor
from hwdiff.diffusion.training import ConditionedGraphs, TrainConfig, train_denoiser
from hwdiff.generator.model import graph_layout
from hwdiff.spaces import get_space
from hwdiff.spaces.base import GraphSpec, NodeAttribute

NB201 = get_space("nb201")
TINY = DenoiserConfig(node_dim=32, edge_dim=8, global_dim=32, heads=4, layers=2)


def nb201_transitions(timesteps: int = 500) -> MarginalTransitions:
    layout = graph_layout(NB201.graph_spec)
    graphs = GraphBatch.from_numpy(*NB201.encode(NB201.enumerate()))
    return MarginalTransitions.from_data(layout, CosineSchedule(timesteps), graphs)


def free_edge_spec() -> GraphSpec:
    """A 4-node DAG space whose forward edges are generated (like NAS-Bench-101/301)."""
    mask = np.triu(np.ones((4, 4), dtype=bool), k=1)
    return GraphSpec(num_nodes=4, node_attributes=(NodeAttribute("op", ("a", "b", "c")),),
                     edge_categories=("none", "edge"), free_nodes=(1, 2), free_edge_mask=mask)


def test_schedule_ends_in_the_limit():
    s = CosineSchedule(500)
    abar = s.abar(torch.arange(501))
    assert abar[0] == 1.0 and abar[-1] == 0.0
    assert torch.all(abar[1:] <= abar[:-1])


def test_transition_matrices_are_stochastic_and_compose_exactly():
    tr = nb201_transitions()
    m = tr.node_marginals[0][3]  # one op node's stationary distribution
    for t in (1, 17, 250, 499, 500):
        q = tr.qbar(m, t)
        assert torch.allclose(q.sum(-1), torch.ones(5, dtype=torch.float64))
        assert (q >= 0).all()
    # Skipping: Qbar_s Q_{s->t} == Qbar_t, and stepping one by one equals one jump.
    for s, t in ((0, 10), (10, 200), (123, 456), (300, 500)):
        assert torch.allclose(tr.qbar(m, s) @ tr.q_between(m, s, t), tr.qbar(m, t), atol=1e-12)
    stepped = tr.qbar(m, 40)
    for k in range(40, 60):
        stepped = stepped @ tr.q_between(m, k, k + 1)
    assert torch.allclose(stepped, tr.qbar(m, 60), atol=1e-12)


def test_the_marginal_limit_is_reached_at_T():
    tr = nb201_transitions()
    for marginal in (tr.node_marginals[0][2], tr.edge_marginals[0, 1]):
        limit = tr.qbar(marginal, 500)
        assert torch.allclose(limit, marginal.expand_as(limit))


def test_noise_at_T_follows_the_marginals_and_fixed_parts_never_change():
    tr = nb201_transitions()
    clean = GraphBatch.from_numpy(*NB201.encode(NB201.enumerate()[:4000]))
    noisy = tr.noise(clean, torch.full((4000,), 500), torch.Generator().manual_seed(0))
    assert torch.equal(noisy.edges, clean.edges)
    assert torch.equal(noisy.nodes[:, [0, 7]], clean.nodes[:, [0, 7]])
    freq = torch.nn.functional.one_hot(noisy.nodes[:, 1:7, 0], 5).double().mean((0, 1))
    assert torch.allclose(freq, tr.node_marginals[0][1:7].mean(0), atol=0.02)
    kept = tr.noise(clean, torch.zeros(4000, dtype=torch.long))
    assert torch.equal(kept.nodes, clean.nodes)


def test_posterior_matches_bayes_rule_on_explicit_matrices():
    tr = nb201_transitions()
    m = tr.node_marginals[0][4]
    s, t = 100, 140
    x0 = torch.tensor([0.1, 0.2, 0.3, 0.15, 0.25], dtype=torch.float64)
    for xt in range(5):
        got = tr.posterior(x0.view(1, 1, 5), torch.tensor([[xt]]), m.view(1, 5), s, t)[0, 0]
        qbar_s, q_st, qbar_t = tr.qbar(m, s), tr.q_between(m, s, t), tr.qbar(m, t)
        want = sum(x0[k] * qbar_s[k] * q_st[:, xt] / qbar_t[k, xt] for k in range(5))
        assert torch.allclose(got, want / want.sum(), atol=1e-10)


def test_free_edges_are_noised_and_sampled_only_where_allowed():
    spec = free_edge_spec()
    layout = graph_layout(spec)
    rng = np.random.default_rng(0)
    nodes = np.zeros((64, 4, 1), dtype=np.int64)
    nodes[:, 1:3, 0] = rng.integers(0, 3, (64, 2))
    edges = np.triu(rng.integers(0, 2, (64, 4, 4)), k=1)
    clean = GraphBatch.from_numpy(nodes, edges)
    tr = MarginalTransitions.from_data(layout, CosineSchedule(50), clean)
    noisy = tr.noise(clean, torch.full((64,), 50), torch.Generator().manual_seed(1))
    lower = ~torch.as_tensor(np.triu(np.ones((4, 4), dtype=bool), k=1))
    assert torch.equal(noisy.edges[:, lower], clean.edges[:, lower])
    assert not torch.equal(noisy.edges, clean.edges)
    model = GraphDenoiser(layout, TINY)
    out = GuidedSampler(tr, steps=10).sample(model, torch.zeros(16, 2), torch.zeros(16, 2, dtype=torch.bool),
                                             generator=torch.Generator().manual_seed(0))
    assert (out.edges[:, lower] == 0).all()
    assert (out.nodes[:, [0, 3]] == 0).all()


def test_guidance_with_weight_zero_is_the_conditional_model():
    tr = nb201_transitions()
    torch.manual_seed(0)
    model = GraphDenoiser(tr.layout, TINY).eval()
    graphs = tr.sample_limit(8, torch.Generator().manual_seed(0))
    t = torch.full((8,), 0.5)
    values = torch.randn(8, 2)
    present = torch.ones(8, 2, dtype=torch.bool)
    sampler = GuidedSampler(tr)
    with torch.no_grad():
        cond_logits, _ = model(graphs, t, condition_tensor(values, present))
        joint, _ = sampler._guided_logits(model, graphs, t, values, present, Guidance("joint", (0.0,)))
        composed, _ = sampler._guided_logits(model, graphs, t, values, present, Guidance("composed", (0.0, 0.0)))
        null_logits, _ = model(graphs, t, condition_tensor(values, torch.zeros_like(present)))
        only_acc = present.clone()
        only_acc[:, 1] = False
        acc_logits, _ = model(graphs, t, condition_tensor(values, only_acc))
        one, _ = sampler._guided_logits(model, graphs, t, values, present, Guidance("composed", (1.0, 0.0)))
    assert torch.allclose(joint[0], cond_logits[0], atol=1e-5)
    assert torch.allclose(composed[0], null_logits[0], atol=1e-5)
    assert torch.allclose(one[0], acc_logits[0], atol=1e-5)


def test_context_conditions_reach_every_pass_and_are_never_guided():
    """A shared generator's device (condition 2 here) is context: a step bounded by nothing else is one plain
    pass, and guidance contrasts the bounds against the context alone, with one weight per bound."""
    tr = nb201_transitions()
    torch.manual_seed(0)
    model = GraphDenoiser(tr.layout, replace(TINY, num_conditions=3)).eval()
    calls = []
    model.register_forward_hook(lambda module, args, out: calls.append(args[0].nodes.shape[0]))
    graphs = tr.sample_limit(8, torch.Generator().manual_seed(0))
    t = torch.full((8,), 0.5)
    values = torch.randn(8, 3)
    sampler = GuidedSampler(tr)

    def flags(*on: int) -> torch.Tensor:
        present = torch.zeros(8, 3, dtype=torch.bool)
        present[:, list(on)] = True
        return present

    with torch.no_grad():
        def plain(*on: int) -> torch.Tensor:
            return model(graphs, t, condition_tensor(values, flags(*on)))[0][0]

        context_only, _ = sampler._guided_logits(model, graphs, t, values, flags(2), Guidance("joint", (2.0,)), (2,))
        assert calls == [8]  # one pass, no guidance
        assert torch.allclose(context_only[0], plain(2), atol=1e-5)
        joint, _ = sampler._guided_logits(model, graphs, t, values, flags(0, 1, 2), Guidance("joint", (2.0,)), (2,))
        assert torch.allclose(joint[0], 3 * plain(0, 1, 2) - 2 * plain(2), atol=1e-4)
        composed, _ = sampler._guided_logits(model, graphs, t, values, flags(0, 1, 2),
                                             Guidance("composed", (1.0, 3.0)), (2,))
        want = plain(2) + (plain(0, 2) - plain(2)) + 3 * (plain(1, 2) - plain(2))
        assert torch.allclose(composed[0], want, atol=1e-4)
        with pytest.raises(ValueError, match="needs 2 weights"):
            sampler._guided_logits(model, graphs, t, values, flags(0, 1, 2), Guidance("composed", (1.0, 1.0, 1.0)),
                                   (2,))


def test_a_fixed_adjacency_is_embedded_once_with_the_same_result():
    """nb201's edges are the same in every graph: the denoiser embeds them once and broadcasts; the logits are
    those of embedding each graph's own edges."""
    tr = nb201_transitions()
    torch.manual_seed(0)
    model = GraphDenoiser(tr.layout, TINY).eval()
    graphs = tr.sample_limit(16, torch.Generator().manual_seed(0))
    t = torch.rand(16)
    cond = condition_tensor(torch.randn(16, 2), torch.ones(16, 2, dtype=torch.bool))
    with torch.no_grad():
        node_logits, edge_logits = model(graphs, t, cond)
        # The same forward, with every graph's edge features computed from its own edges.
        lay, (b, n) = tr.layout, graphs.nodes.shape[:2]
        feats = [torch.nn.functional.one_hot(graphs.nodes[..., a], k).float() for a, k in enumerate(lay.node_classes)]
        feats.append(lay.node_mask.float().expand(b, n).unsqueeze(-1))
        x = model.node_in(torch.cat(feats, -1)) + model.position
        onehot = torch.nn.functional.one_hot(graphs.edges, lay.edge_classes).float()
        e = model.edge_in(torch.cat([onehot, onehot.transpose(1, 2), lay.edge_mask.float().expand(b, n, n)[..., None]],
                                    -1))
        g = model.global_in(torch.cat([timestep_embedding(t, TINY.global_dim), cond], -1))
        for layer in model.layers:
            x, e = layer(x, e, g)
    assert edge_logits.shape == (16, n, n, lay.edge_classes)
    for got, head in zip(node_logits, model.node_heads):
        assert torch.allclose(got, head(x), atol=1e-5)
    assert torch.allclose(edge_logits, model.edge_head(e), atol=1e-5)


def test_step_skipping_schedule():
    tr = nb201_transitions()
    pairs = GuidedSampler(tr, steps=25).timesteps()
    assert pairs[0][0] == 500 and pairs[-1][1] == 0 and len(pairs) == 25
    assert all(t > s for t, s in pairs)
    assert len(GuidedSampler(tr).timesteps()) == 500


@pytest.mark.slow  # trains a generator
def test_short_training_gives_only_valid_cells_and_is_reproducible():
    tr = nb201_transitions(timesteps=100)
    archs = NB201.enumerate()
    graphs = GraphBatch.from_numpy(*NB201.encode(archs))
    values = torch.randn(len(archs), 2)
    data = ConditionedGraphs(graphs, values, torch.ones(len(archs), 2, dtype=torch.bool),
                             direction=torch.tensor([-1.0, 1.0]))

    def run() -> tuple[list[float], list]:
        torch.manual_seed(0)
        model = GraphDenoiser(tr.layout, TINY)
        state = train_denoiser(model, tr, data, TrainConfig(steps=200, batch_size=64, warmup_steps=20), seed=3)
        out = GuidedSampler(tr, steps=20).sample(model, torch.zeros(300, 2), torch.ones(300, 2, dtype=torch.bool),
                                                 generator=torch.Generator().manual_seed(0))
        return state.losses, NB201.decode(*out.numpy())

    losses, decoded = run()
    assert all(a is not None for a in decoded)
    assert np.mean(losses[-50:]) < np.mean(losses[:20])
    assert run() == (losses, decoded)


@pytest.mark.slow  # trains a generator
def test_training_resumes_exactly():
    tr = nb201_transitions(timesteps=100)
    archs = NB201.enumerate()[:2000]
    data = ConditionedGraphs(GraphBatch.from_numpy(*NB201.encode(archs)), torch.randn(2000, 2),
                             torch.ones(2000, 2, dtype=torch.bool))
    cfg = TrainConfig(steps=60, batch_size=32, warmup_steps=5)
    torch.manual_seed(0)
    straight = GraphDenoiser(tr.layout, TINY)
    train_denoiser(straight, tr, data, cfg, seed=1)

    saved = {}

    class Interrupt(Exception):
        pass

    def checkpoint(state):
        saved["model"] = {k: v.clone() for k, v in interrupted.state_dict().items()}
        saved["state"] = copy.deepcopy(state)

    def stop_at_40(state):
        if state.step == 41:
            raise Interrupt

    torch.manual_seed(0)
    interrupted = GraphDenoiser(tr.layout, TINY)
    with pytest.raises(Interrupt):
        train_denoiser(interrupted, tr, data, cfg, seed=1, on_step=stop_at_40, checkpoint=checkpoint,
                       checkpoint_every=20)
    assert saved["state"].step == 40
    resumed = GraphDenoiser(tr.layout, TINY)
    resumed.load_state_dict(saved["model"])
    train_denoiser(resumed, tr, data, cfg, seed=1, state=saved["state"])
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
