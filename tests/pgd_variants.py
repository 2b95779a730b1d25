"""Wrong and right ways a learner could write exercise 02.3, targeted L2 PGD (used by ``test_exercises.py``)."""
import torch
import torch.nn.functional as F

from errlib.teach.solutions import l2_project, l2_step, targeted_pgd



def untargeted(model, x0, t, eps, steps, a):
    x = x0.clone(); best, bl = x0.clone(), torch.full((len(x0),), float("inf"))
    for i in range(steps + 1):
        x.requires_grad_(True)
        loss = F.cross_entropy(model(x), t, reduction="none")
        (g,) = torch.autograd.grad(loss.sum(), x)
        x, loss = x.detach(), loss.detach()
        b = loss < bl; best[b], bl = x[b], torch.where(b, loss, bl)
        if i < steps: x = l2_project(l2_step(x, g, a), x0, eps)
    return best

def accumulated(model, x0, t, eps, steps, a):
    x = x0.clone().requires_grad_(True); best, bl = x0.clone(), torch.full((len(x0),), float("inf"))
    for i in range(steps + 1):
        loss = F.cross_entropy(model(x), t, reduction="none")
        (-loss.sum()).backward()  # x.grad never zeroed: the gradients add up
        b = loss.detach() < bl; best[b], bl = x.detach()[b], torch.where(b, loss.detach(), bl)
        if i < steps:
            with torch.no_grad():
                x.copy_(l2_project(l2_step(x, x.grad, a), x0, eps))
    return best

def no_projection(model, x0, t, eps, steps, a):
    x = x0.clone(); best, bl = x0.clone(), torch.full((len(x0),), float("inf"))
    for i in range(steps + 1):
        x.requires_grad_(True)
        loss = F.cross_entropy(model(x), t, reduction="none")
        (g,) = torch.autograd.grad(-loss.sum(), x)
        x, loss = x.detach(), loss.detach()
        b = loss < bl; best[b], bl = x[b], torch.where(b, loss, bl)
        if i < steps: x = l2_step(x, g, a).clamp(0, 1)
    return best

def last_iterate(model, x0, t, eps, steps, a):
    x = x0.clone()
    for i in range(steps):
        x.requires_grad_(True)
        loss = F.cross_entropy(model(x), t)
        (g,) = torch.autograd.grad(-loss, x)
        x = l2_project(l2_step(x.detach(), g, a), x0, eps)
    return x

def clamp_then_project(model, x0, t, eps, steps, a):  # correct variant
    x = x0.clone(); best, bl = x0.clone(), torch.full((len(x0),), float("inf"))
    model.eval()
    for i in range(steps + 1):
        x.requires_grad_(True)
        loss = F.cross_entropy(model(x), t, reduction="none")
        (g,) = torch.autograd.grad(-loss.mean(), x)
        x, loss = x.detach(), loss.detach()
        b = loss < bl; best[b], bl = x[b], torch.where(b, loss, bl)
        if i < steps:
            d = l2_step(x, g, a).clamp(0, 1) - x0
            n = d.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (d.dim() - 1))
            x = x0 + d * torch.clamp(eps / n, max=1.0)
    return best

def in_place_x0(model, x0, t, eps, steps, a):
    out = targeted_pgd(model, x0, t, eps, steps, a)
    x0.copy_(out)
    return out


def whole_batch_norm(model, x0, t, eps, steps, a):  # one norm for the whole batch, not per image
    x = x0.clone(); best, bl = x0.clone(), torch.full((len(x0),), float("inf"))
    for i in range(steps + 1):
        x.requires_grad_(True)
        loss = F.cross_entropy(model(x), t, reduction="none")
        (g,) = torch.autograd.grad(-loss.sum(), x)
        x, loss = x.detach(), loss.detach()
        b = loss < bl; best[b], bl = x[b], torch.where(b, loss, bl)
        if i < steps: x = l2_project(x + a * g / g.norm(), x0, eps)
    return best


def no_box(model, x0, t, eps, steps, a):  # projects onto the ball only
    x = x0.clone(); best, bl = x0.clone(), torch.full((len(x0),), float("inf"))
    for i in range(steps + 1):
        x.requires_grad_(True)
        loss = F.cross_entropy(model(x), t, reduction="none")
        (g,) = torch.autograd.grad(-loss.sum(), x)
        x, loss = x.detach(), loss.detach()
        b = loss < bl; best[b], bl = x[b], torch.where(b, loss, bl)
        if i < steps:
            d = l2_step(x, g, a) - x0
            n = d.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (d.dim() - 1))
            x = x0 + d * torch.clamp(eps / n, max=1.0)
    return best


WRONG = {"untargeted sign": untargeted, "gradients summed over steps (no detach, no zeroing)": accumulated,
         "no projection": no_projection, "no best iterate": last_iterate, "changes x0 in place": in_place_x0,
         "whole-batch norm": whole_batch_norm, "ball but no box": no_box,
         "constant": lambda model, x0, t, eps, steps, a: x0.clone()}
RIGHT = {"clamp, then project (the box first)": clamp_then_project}
