"""VQ-VAE-2 against the single-level VQ-VAE on the CIFAR-10 subset, at equal CPU time and equal code bits per image.

    python benchmarks/bench_vqvae2.py            # every stage not yet done (about 17 CPU minutes), then the report
    python benchmarks/bench_vqvae2.py report     # the table from what is finished
    python benchmarks/bench_vqvae2.py --quick    # a few CPU seconds per stage: checks the script, writes nothing to results/

Both models code an image in 576 bits: the single-level model as an 8×8 grid of K = 512 codes (64 · 9 bits); the
two-level model as a 4×4 top grid of K = 256 (16 · 8 bits) and an 8×8 bottom grid of K = 128 (64 · 7 bits). Both
have 64 channels, two residual blocks, codes of dimension 32 and EMA codebooks with restarts. Each trains for the
same budget of PROCESS CPU time on one torch thread (so the load of other programs does not change the budget):
Adam at a constant 2e-3, batches of 32, on the 4,660 training images. Then the priors, again for equal CPU time:
the single-level model's class-conditional Gated PixelCNN gets the whole prior budget, the two-level model's
class-conditional top prior and its bottom prior (conditioned on the top codes) half each.

Measured on the 846 official test images, which no stage saw: reconstruction MSE; bits per code of each level under
its prior; the Fréchet distance, in the features of the sampling notebook's classifier (trained once on the training
images), between test images and their reconstructions, and between test images and as many class-conditional
samples (the test labels' mix, temperature 1); as the reference, the distance between as many training images and
the test images.

Resumable: each finished stage (a model, its priors, the classifier) is saved in benchmarks/scratch/vqvae2/ and read
back; an interrupted stage starts again. Results go to benchmarks/results/vqvae2.json and VQVAE2.md. Not a test.
"""
from __future__ import annotations
import json, math, sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, SCRATCH, machine, md_table, machine_line

STAGES = SCRATCH/'vqvae2'
BUDGETS = dict(vqvae=300.0, priors=120.0)   # CPU seconds per model: the autoencoder, then all its priors together
QUICK = dict(vqvae=8.0, priors=4.0)
FIT = dict(lr=2e-3, batch_size=32, lr_schedule='constant', steps=1_000_000, log_every=10, eval_every=1_000_000)
PRIOR_SIZES = dict(hidden=32, num_layers=6, first_kernel_size=5, head_hidden=64)
MODELS = {
    'one level': dict(kind='vqvae', config=dict(in_channels=3, image_size=32, hidden=64, res_hidden=32, num_downsamples=2,
                                               num_codes=512, code_dim=32), grids=[(8, 8, 512)]),
    'two levels': dict(kind='vqvae2', config=dict(in_channels=3, image_size=32, hidden=64, res_hidden=32, bottom_downsamples=2,
                                                  top_downsamples=1, top_codes=256, bottom_codes=128, code_dim=32),
                       grids=[(4, 4, 256), (8, 8, 128)]),
}

def code_bits(grids) -> int: return sum(h * w * round(math.log2(K)) for h, w, K in grids)

def data():
    from vqvae_nb.datasets import get_dataset
    train, test = (get_dataset('cifar10', split=s, download=False) for s in ('train', 'test'))
    return train, test

def cpu_budget(seconds:float):
    "A `fit` callback that stops the run once this process has used `seconds` of CPU time since the callback was made."
    start = time.process_time()
    return lambda step, model, history: time.process_time() - start >= seconds

def stage(path:Path, make):
    "The saved result of a finished stage, or `make()` run now and saved (atomically)."
    from vqvae_nb.core import atomic_save
    if path.is_file(): return torch.load(path, weights_only=True)
    result = make()
    STAGES.mkdir(parents=True, exist_ok=True)
    atomic_save(result, path)
    return result

def build(name:str):
    from vqvae_nb.model import VQVAE
    from vqvae_nb.hierarchy import VQVAE2
    spec = MODELS[name]
    torch.manual_seed(0)
    return VQVAE(**spec['config']) if spec['kind'] == 'vqvae' else VQVAE2(**spec['config'])

def train_model(name:str, train, budget:float) -> dict:
    from vqvae_nb.training import fit_vqvae
    from vqvae_nb.hierarchy import fit_vqvae2
    model, start = build(name), time.process_time()
    fit = fit_vqvae if MODELS[name]['kind'] == 'vqvae' else fit_vqvae2
    history = fit(model, train, device='cpu', progress=False, callback=cpu_budget(budget), **FIT)
    return dict(state=model.state_dict(), steps=history['step'][-1], cpu_seconds=time.process_time() - start)

def levels(model, images, batch_size=256) -> list[torch.Tensor]:
    "The code grids of `images`: one for the single-level model, (top, bottom) for the two-level one."
    with torch.no_grad():
        parts = [model.encode(b) for b in images.split(batch_size)]
    return [torch.cat(p) for p in zip(*parts)] if isinstance(parts[0], tuple) else [torch.cat(parts)]

def train_priors(name:str, model, train_x, train_y, budget:float) -> dict:
    from vqvae_nb.pixelcnn import GatedPixelCNN
    from vqvae_nb.prior import fit_prior
    from vqvae_nb.hierarchy import ConditionedPixelCNN, fit_bottom_prior
    grids, start, fit = levels(model, train_x), time.process_time(), dict(FIT, lr=2e-3, batch_size=64, grad_clip=1.0)
    (h, w, K) = MODELS[name]['grids'][0]
    torch.manual_seed(0); first = GatedPixelCNN(K, num_classes=10, **PRIOR_SIZES)
    fit_prior(first, grids[0], train_y, device='cpu', progress=False, callback=cpu_budget(budget / len(grids)), **fit)
    out = dict(first=first.state_dict())
    if len(grids) == 2:
        (_, _, Kb), (_, _, Kt) = MODELS[name]['grids'][1], MODELS[name]['grids'][0]
        torch.manual_seed(0); second = ConditionedPixelCNN(Kb, Kt, 2, **PRIOR_SIZES)
        fit_bottom_prior(second, grids[1], grids[0], device='cpu', progress=False, callback=cpu_budget(budget / 2), **fit)
        out['second'] = second.state_dict()
    return dict(out, cpu_seconds=time.process_time() - start)

def load_priors(name:str, saved:dict):
    from vqvae_nb.pixelcnn import GatedPixelCNN
    from vqvae_nb.hierarchy import ConditionedPixelCNN
    grids = MODELS[name]['grids']
    first = GatedPixelCNN(grids[0][2], num_classes=10, **PRIOR_SIZES); first.load_state_dict(saved['first'])
    if len(grids) == 1: return [first.eval()]
    second = ConditionedPixelCNN(grids[1][2], grids[0][2], 2, **PRIOR_SIZES); second.load_state_dict(saved['second'])
    return [first.eval(), second.eval()]

def samples(model, priors, labels, generator, batch_size=128) -> torch.Tensor:
    from vqvae_nb.sampling import sample_images
    from vqvae_nb.hierarchy import sample_two_levels
    out = []
    for y in labels.split(batch_size):
        if len(priors) == 1: out.append(sample_images(model, priors[0], len(y), y=y, generator=generator))
        else: out.append(sample_two_levels(model, *priors, len(y), y=y, generator=generator))
    return torch.cat(out)

def bits_per_code(priors, grids, labels) -> list[float]:
    from vqvae_nb.prior import prior_nll_bits
    from vqvae_nb.hierarchy import conditional_bits
    bits = [prior_nll_bits(priors[0], grids[0], labels)]
    if len(priors) == 2: bits.append(conditional_bits(priors[1], grids[1], grids[0])['valid_bits'])
    return bits

def measure(name:str, train, test, classifier, budgets:dict) -> dict:
    from vqvae_nb.sampling import classifier_outputs, frechet_distance
    fitted = stage(STAGES/f"{name.replace(' ', '_')}_model.pt", lambda: train_model(name, train, budgets['vqvae']))
    model = build(name); model.load_state_dict(fitted['state']); model.eval()
    train_x, train_y = train.images.float() / 255, torch.as_tensor(train.labels).long()
    test_x, test_y = test.images.float() / 255, torch.as_tensor(test.labels).long()
    priors = load_priors(name, stage(STAGES/f"{name.replace(' ', '_')}_priors.pt",
                                     lambda: train_priors(name, model, train_x, train_y, budgets['priors'])))
    with torch.no_grad(): recon = torch.cat([model.reconstruct(b) for b in test_x.split(256)])
    drawn = samples(model, priors, test_y, torch.Generator().manual_seed(0))
    f_test, f_recon, f_samples = (classifier_outputs(classifier, x)[0] for x in (test_x, recon, drawn))
    pred = classifier_outputs(classifier, drawn)[1]
    return dict(code_bits=code_bits(MODELS[name]['grids']), grids=MODELS[name]['grids'], steps=fitted['steps'],
                vqvae_cpu_seconds=fitted['cpu_seconds'], parameters=sum(p.numel() for p in model.parameters()),
                test_mse=float(((recon - test_x) ** 2).mean()), fd_reconstructions=frechet_distance(f_recon, f_test),
                fd_samples=frechet_distance(f_samples, f_test), sample_accuracy=float((pred == test_y).float().mean()),
                bits_per_code=bits_per_code(priors, levels(model, test_x), test_y))

def classifier_for(train):
    from vqvae_nb.sampling import SmallClassifier, train_classifier
    saved = stage(STAGES/'classifier.pt', lambda: train_classifier(train, device='cpu').state_dict())
    classifier = SmallClassifier(3, 10); classifier.load_state_dict(saved)
    return classifier.eval()

def run(quick:bool=False):
    global STAGES
    torch.set_num_threads(1)
    if quick: STAGES = STAGES/'quick'
    train, test = data()
    classifier = classifier_for(train)
    from vqvae_nb.sampling import classifier_outputs, frechet_distance
    reference = frechet_distance(*(classifier_outputs(classifier, d.images[:len(test)].float() / 255)[0] for d in (train, test)))
    models = {name: measure(name, train, test, classifier, QUICK if quick else BUDGETS) for name in MODELS}
    result = dict(budgets_cpu_seconds=QUICK if quick else BUDGETS, fd_train_test=reference, test_images=len(test),
                  models=models, machine=machine())
    if quick: print(json.dumps(models, indent=1)); return
    RESULTS.mkdir(exist_ok=True)
    (RESULTS/'vqvae2.json').write_text(json.dumps(result, indent=1) + '\n')

def report():
    r = json.loads((RESULTS/'vqvae2.json').read_text())
    rows = [dict(m, model=n, grids=' + '.join(f'{h}×{w}, K={K}' for h, w, K in m['grids']),
                 bits=', '.join(f'{b:.2f}' for b in m['bits_per_code'])) for n, m in r['models'].items()]
    table = md_table(rows, dict(model='model', grids='code grids', code_bits='bits per image', parameters='parameters',
                                steps='steps in the budget', test_mse='test MSE', fd_reconstructions='FD reconstructions',
                                fd_samples='FD samples', sample_accuracy='samples read as their class', bits='bits per code (top, bottom)'))
    b = r['budgets_cpu_seconds']
    lines = ['# VQ-VAE-2 against VQ-VAE: the CIFAR-10 subset at equal CPU time and equal code bits', '',
             f"Each autoencoder trained for {b['vqvae']:.0f} CPU seconds (one thread), its priors for {b['priors']:.0f} CPU seconds "
             f"in all; measured on the {r['test_images']} official test images. Fréchet distances in the features of the "
             f"sampling notebook's classifier; between as many training and test images it is {r['fd_train_test']:.2f} (the reference).",
             '', table, '', machine_line(r['machine'])]
    (RESULTS/'VQVAE2.md').write_text('\n'.join(lines) + '\n')
    print(table)

if __name__ == '__main__':
    args = sys.argv[1:]
    if args == ['--quick']: run(quick=True)
    else:
        if args != ['report']: run()
        report()
