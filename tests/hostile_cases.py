"""A sweep of hostile and careless inputs against `vqvae_nb` (command line and API), each of which must end cleanly:
the command exits with status 2 and one `vqvae_nb <command>: error: ...` line naming what was wrong (no traceback),
or the API raises a clear exception (ValueError, TypeError, FileNotFoundError, ...) whose message contains the
expected words; run folders are never left mixed.

    python tests/hostile_cases.py            # all cases, then a summary line "N passed, M failed"
    python tests/hostile_cases.py -k idx     # the cases whose name contains "idx"

The cases that train use tiny step counts; the whole sweep takes a few minutes on a laptop CPU.
"""
import argparse, contextlib, gzip, io, json, math, os, shutil, signal, struct, subprocess, sys, tempfile, time, traceback, zlib
from pathlib import Path
import numpy as np
import torch

os.environ.setdefault('MPLBACKEND', 'Agg')
torch.set_num_threads(1)
from vqvae_nb.cli import main
from vqvae_nb.core import check_int
from vqvae_nb.data import read_idx, ImageTensorDataset
from vqvae_nb.datasets import get_dataset
from vqvae_nb.model import VQVAE, VQVAEConfig
from vqvae_nb.quantizer import VectorQuantizer
from vqvae_nb.ema import VectorQuantizerEMA
from vqvae_nb.pixelcnn import GatedPixelCNN
from vqvae_nb.training import fit_vqvae, load_checkpoint, save_checkpoint
from vqvae_nb.prior import load_prior, save_prior
from vqvae_nb.sampling import sample_images
from vqvae_nb.runs import load_run

TMP = Path(tempfile.mkdtemp(prefix='vqvae_nb_hostile_'))
QUICK = ['--steps', '4', '--prior-steps', '2', '--prior-hidden', '8', '--prior-layers', '1', '--classifier-steps', '2',
         '--num-samples', '4', '--batch-size', '8', '--hidden', '8', '--no-check-prior', '--quiet']
CASES = []

def cli(name, argv, expect, status=2):
    "A command that must exit with `status` and, for 2, print one error line containing `expect`."
    CASES.append((name, lambda: _run_cli(argv() if callable(argv) else argv, expect, status)))

def api(name, fn, expect, exc=Exception):
    "A call that must raise `exc` with `expect` in its message."
    CASES.append((name, lambda: _raises(fn, expect, exc)))

def check(name, fn):
    "A scenario whose own assertions decide."
    CASES.append((name, fn))

def _run_cli(argv, expect, status):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: code = main([str(a) for a in argv])
        except SystemExit as e: code = e.code
    text = err.getvalue()
    assert 'Traceback' not in text, f'traceback:\n{text[-800:]}'
    assert code == status, f'exit status {code}, expected {status}; stderr: {text[-400:]}'
    if status == 2:
        assert ': error: ' in text or 'usage:' in text, f'no error line: {text[-400:]}'
        assert expect in text, f'{expect!r} not in: {text[-400:]}'

def _raises(fn, expect, exc):
    try: fn()
    except exc as e:
        assert not isinstance(e, (AssertionError, AttributeError, IndexError, KeyError, ZeroDivisionError)), f'unclear {type(e).__name__}: {e}'
        assert expect in str(e), f'{expect!r} not in {type(e).__name__}: {e}'
        return
    raise AssertionError(f'nothing raised (expected {exc.__name__} with {expect!r})')

# ------------------------------------------------------------------ files
def write_idx(path, arr, code=0x08, gz=False, dims=None):
    arr = np.asarray(arr)
    dims = arr.shape if dims is None else dims
    data = bytes([0, 0, code, len(dims)]) + struct.pack(f'>{len(dims)}I', *dims) + arr.tobytes()
    Path(path).write_bytes(gzip.compress(data) if gz else data)
    return path

rng = np.random.default_rng(0)
def images(n, side=28, channels=None):
    shape = (n, side, side) if channels is None else (n, side, side, channels)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)

IMG = write_idx(TMP/'img.idx', images(60)); LAB = write_idx(TMP/'lab.idx', np.arange(60, dtype=np.uint8) % 10)
def idx_pair(name, pix, labels):
    return ['--dataset', 'idx', '--images', write_idx(TMP/f'{name}-img.idx', pix), '--labels', write_idx(TMP/f'{name}-lab.idx', labels)]

# ------------------------------------------------------------------ command line: options
for opt, value, expect in [
    ('--steps', '0', 'steps must be an integer at least 1'), ('--steps', '-5', 'steps must be an integer at least 1'),
    ('--steps', 'many', 'invalid int value'), ('--steps', '1e9', 'invalid int value'), ('--steps', '2.5', 'invalid int value'),
    ('--prior-steps', '0', '--prior-steps must be an integer at least 1'), ('--batch-size', '0', '--batch-size must be'), ('--batch-size', '-1', '--batch-size must be'),
    ('--lr', '0', '--lr must be a finite number'), ('--lr', '-1', '--lr must be'), ('--lr', 'nan', '--lr must be'), ('--lr', 'inf', '--lr must be'),
    ('--beta', 'nan', '--beta must be a finite number'), ('--beta', 'inf', '--beta must be'), ('--beta', '-1', '--beta must be'),
    ('--num-codes', '0', '--num-codes must be'), ('--num-codes', '-5', '--num-codes must be'), ('--num-codes', '1e9', 'invalid int value'),
    ('--code-dim', '0', '--code-dim must be'), ('--hidden', '0', 'hidden'), ('--hidden', '-3', 'hidden'),
    ('--prior-hidden', '0', '--prior-hidden must be'), ('--prior-layers', '0', '--prior-layers must be'),
    ('--held-out', '0', '--held-out must be'), ('--held-out', '1', '--held-out must be'), ('--held-out', '1.5', '--held-out must be'), ('--held-out', 'nan', '--held-out must be'),
    ('--seed', '-1', 'seed must be an integer'), ('--seed', str(2**70), 'seed must be an integer'),
    ('--num-samples', '0', '--num-samples must be'), ('--classifier-steps', '0', '--classifier-steps must be'),
    ('--quantizer', 'kmeans', "quantizer='kmeans'"), ('--likelihood', 'gaussian', "likelihood='gaussian'"),
    ('--dataset', 'svhn', "--dataset='svhn' is not one of"), ('--dataset', 'idx', '--dataset idx reads your own files: give --images'),
    ('--preset', 'bogus', "invalid choice: 'bogus'"), ('--split', 'valid', "--split='valid' is not one of ('train', 'test')"),
    ('--device', 'gpu', 'is not a device'), ('--device', 'meta', 'is not available on this machine'),
    ('--device', 'xpu', 'is not available on this machine'), ('--device', 'mps', 'is not available on this machine'),
    ('--images', 'x.gz', "--images 'x.gz': no such file or folder"), ('--stepz', '3', 'unrecognized arguments')]:
    if opt == '--device' and value == 'mps' and torch.backends.mps.is_available(): continue
    cli(f'train {opt} {value}', ['train', opt, value, '--out', TMP/'never'], expect)
if not torch.cuda.is_available(): cli('train --device cuda', ['train', '--device', 'cuda', '--out', TMP/'never'], "'cuda' is not available")
cli('train idx missing images file', ['train', '--dataset', 'idx', '--images', TMP/'nope.gz'], 'no such file')
cli('train kmnist offline', ['train', '--dataset', 'kmnist', '--root', TMP/'empty', '--no-download', '--out', TMP/'never'], "Dataset 'kmnist'")
cli('train --split with idx', ['train', '--dataset', 'idx', '--images', IMG, '--split', 'test'], '--split picks a split')
cli('train --hidden 100000 (memory)', ['train', '--hidden', '100000', '--out', TMP/'never'], 'GiB to train')
cli('train --num-codes 1000000000 (memory)', ['train', '--num-codes', '1000000000', '--out', TMP/'never'], 'GiB to train')
cli('train --prior-hidden 100000 (memory)', ['train', '--prior-hidden', '100000', '--out', TMP/'never'], 'GiB to train')
cli('train --batch-size larger than the data', ['train', *idx_pair('b', images(20), np.arange(20, dtype=np.uint8) % 10), '--batch-size', '64', '--out', TMP/'never'], 'lower batch_size')
(TMP/'a-file').write_text('x')
cli('train --loss-scale image', ['train', '--loss-scale', 'image', '--out', TMP/'never'], "--loss-scale='image' is not one of")
cli('train --pictures mosaic', ['train', '--pictures', 'code_maps,mosaic', '--out', TMP/'never'], "unknown picture(s) 'mosaic'")
cli('train --arch resnet', ['train', '--arch', 'resnet', '--out', TMP/'never'], "--arch='resnet' is not one of")
cli('train --prior-dim with the PixelCNN', ['train', '--prior-dim', '64', '--out', TMP/'never'], "prior:")
cli('train --out is a file', ['train', '--out', TMP/'a-file', *QUICK], 'is a file')
cli('train --out under a file', ['train', '--out', TMP/'a-file'/'run', *QUICK], 'a-file')
cli('train --resume with nothing to resume', ['train', '--out', TMP/'fresh', '--resume', *QUICK], 'there is no run to resume')
for args, expect in [([], 'at least one factor'), (['--vary', 'beta'], 'write NAME=V1,V2'), (['--vary', 'bta=1,2'], 'not an option a sweep can vary'),
                     (['--vary', 'prior-lr=1e-3,1e-4'], 'not an option a sweep can vary'), (['--vary', 'num-codes=16,2.5'], "'2.5' is not a whole number"),
                     (['--vary', 'lr=1e-3,fast'], "'fast' is not a number"), (['--vary', 'lr=1e-3,0'], '--vary lr=0.0'),
                     (['--vary', 'quantizer=grad,kmeans'], "--vary quantizer='kmeans': --quantizer='kmeans' is not one of"), (['--vary', 'beta=1,1.0'], 'appears twice'),
                     (['--vary', 'beta=1', '--vary', 'beta=2'], 'given twice'), (['--vary', 'beta=1,2', '--mode', 'latin'], "--mode must be 'ofat'"),
                     (['--vary', 'beta=1,2', '--subset', '-5'], '--subset must be an integer at least 1, got -5'), (['--vary', 'hidden=8,100000'], 'GiB to train'),
                     (['--vary', 'dataset=digits,svhn'], "--dataset='svhn' is not one of")]:
    cli(f"sweep {' '.join(args)}", ['sweep', *args, '--out', TMP/'never-sweep', '--quiet'], expect)
cli('sweep --out is a file', ['sweep', '--vary', 'beta=1,2', '--out', TMP/'a-file', '--steps', '4', '--batch-size', '8', '--quiet'], 'is a file')

# ------------------------------------------------------------------ command line: data files
for name, pix, lab, expect in [
    ('label 255 among digits', images(40), np.r_[np.arange(39) % 10, 255].astype(np.uint8), 'pass --remap-labels'),
    ('labels 0..9 with a gap', images(40), (np.arange(40) % 10 * 2).astype(np.uint8), 'pass --remap-labels'),
    ('2-channel images', images(40, channels=2), np.arange(40, dtype=np.uint8) % 10, 'have 2 channels'),
    ('31x31 images', images(40, side=31), np.arange(40, dtype=np.uint8) % 10, 'images of 31×31 cannot be halved'),
    ('7x7 images', images(40, side=7), np.arange(40, dtype=np.uint8) % 10, 'images of 7×7'),
    ('1x1 images', images(40, side=1), np.arange(40, dtype=np.uint8) % 10, 'images of 1×1'),
    ('labels count mismatch', images(40), np.arange(39, dtype=np.uint8) % 10, 'labels')]:
    cli(f'train idx: {name}', ['train', *idx_pair(name.replace(' ', '_'), pix, lab), '--out', TMP/'never', *QUICK], expect)
lab_i32 = np.r_[np.arange(39) % 10, -1].astype('>i4')
cli('train idx: label -1 among labels', lambda: ['train', '--dataset', 'idx', '--images', write_idx(TMP/'m1-img.idx', images(40)),
    '--labels', write_idx(TMP/'m1-lab.idx', lab_i32, code=0x0C), '--out', TMP/'never', *QUICK], 'from -1 to 9')
lab_big = np.r_[np.arange(39) % 10, 100_000].astype('>i4')
cli('train idx: label 100000', lambda: ['train', '--dataset', 'idx', '--images', write_idx(TMP/'big-img.idx', images(40)),
    '--labels', write_idx(TMP/'big-lab.idx', lab_big, code=0x0C), '--out', TMP/'never', *QUICK], 'pass --remap-labels')
flt = (rng.random((40, 28, 28)) * 255).astype('>f4')
cli('train idx: float pixels in 0-255', lambda: ['train', '--dataset', 'idx', '--images', write_idx(TMP/'f-img.idx', flt, code=0x0D),
    '--out', TMP/'never', *QUICK], 'pixels must lie in [0,1]')
good = (TMP/'img.idx').read_bytes()
for name, data, expect in [
    ('truncated', good[:-10], 'truncated'), ('trailing bytes', good + b'\0', 'trailing bytes'),
    ('png', b'\x89PNG\r\n\x1a\n' + good, 'not an IDX file'), ('bad type code', b'\0\0\x07\x03' + good[4:], 'not an IDX file'),
    ('header cut', good[:9], 'truncated'), ('corrupt gzip', gzip.compress(good)[:-30], 'gzip data is corrupt'),
    ('gzip bomb', gzip.compress(b'\0\0\x08\x03' + struct.pack('>3I', 10, 28, 28) + bytes(20_000_000)), 'trailing bytes'),
    ('gzip promising too much', gzip.compress(b'\0\0\x08\x03' + struct.pack('>3I', 100_000_000, 28, 28)), 'truncated'),
    ('overflowing header', b'\0\0\x08\x03' + struct.pack('>3I', 2**32 - 1, 2**32 - 1, 2**32 - 1) + bytes(10), 'truncated'),
    ('empty file', b'', 'truncated'), ('zero images', b'\0\0\x08\x03' + struct.pack('>3I', 0, 28, 28), 'holds no images')]:
    path = TMP/f"bad-{name.replace(' ', '_')}.idx"; path.write_bytes(data)
    cli(f'train idx: {name}', ['train', '--dataset', 'idx', '--images', path, '--out', TMP/'never', *QUICK], expect)
sparse = TMP/'sparse.idx'
with open(sparse, 'wb') as f: f.write(b'\0\0\x08\x03' + struct.pack('>3I', 10, 28, 28)); f.truncate(2**31)
cli('train idx: 2 GiB sparse file', ['train', '--dataset', 'idx', '--images', sparse, '--out', TMP/'never', *QUICK], 'trailing bytes')

# ------------------------------------------------------------------ command line: the perceptual loss
for argv, expect in [
    (['--compare-pixel'], '--compare-pixel trains a pixel-only model beside a perceptual one'),
    (['--perceptual', '--disc-start', '-1'], '--disc-start must be an integer at least 0'),
    (['--perceptual', '--disc-weight', 'nan'], '--disc-weight must be a finite number'),
    (['--preset', 'perceptual-mnist', '--dataset', 'digits', '--disc-weight', '-1'], '--disc-weight must be a finite number')]:
    cli(f'train {" ".join(argv)}', ['train', *argv, '--out', TMP/'never'], expect)
def perceptual_preset_with_twin():
    out = TMP/'perceptual'
    code = main(['train', '--preset', 'perceptual-mnist', '--dataset', 'digits', '--disc-start', '2', '--compare-pixel', '--out', str(out), *QUICK])
    assert code == 0, f'exit status {code}'
    for f in ('vqvae.pt', 'prior.pt', 'metrics.json', 'discriminator.png', 'pixel_vs_perceptual.png'): assert (out/f).is_file(), f'{f} missing'
    assert set(json.loads((out/'metrics.json').read_text())['comparison']) == {'pixel', 'perceptual'}
    load_run(out)   # the extra pictures do not disturb reading the run back
check('train --preset perceptual-mnist --compare-pixel writes both pictures', perceptual_preset_with_twin)

# ------------------------------------------------------------------ command line: sample
def quick_run(name, *extra):
    out = TMP/name
    code = main(['train', '--out', str(out), *QUICK, *extra])
    assert code == 0 and (out/'prior.pt').is_file(), f'the quick run {name} failed'
    return out
RUN = None
def run_folder():
    global RUN
    if RUN is None: RUN = quick_run('run')
    return RUN
for argv, expect in [
    (['--n', '0'], 'n must be an integer at least 1'), (['--n', '-3'], 'n must be an integer'), (['--n', '1e12'], 'invalid int value'),
    (['--nrow', '0'], 'nrow must be an integer at least 1'), (['--nrow', '-3'], 'nrow must be an integer'),
    (['--label', '12'], 'label must be a class number from 0 to 9'), (['--label', '-1'], 'label must be a class number'),
    (['--temperature', '0'], 'temperature must be a finite number'), (['--temperature', '-1'], 'temperature'), (['--temperature', 'nan'], 'temperature'),
    (['--device', 'meta'], 'is not available'), (['--seed', '-1'], 'seed')]:
    cli(f'sample {" ".join(argv)}', lambda argv=argv: ['sample', '--run', run_folder(), '--out', TMP/'s.png', *argv], expect)
cli('sample --out x.jpg', lambda: ['sample', '--run', run_folder(), '--out', TMP/'x.jpg'], 'must name a .png file')
cli('sample without --run', ['sample', '--out', TMP/'s.png'], 'the following arguments are required: --run')
cli('sample --run missing', ['sample', '--run', TMP/'nowhere', '--out', TMP/'s.png'], 'no run folder at')
cli('sample --run is a file', ['sample', '--run', TMP/'a-file', '--out', TMP/'s.png'], 'is a file')
cli('sample --run empty folder', lambda: ['sample', '--run', (TMP/'empty-run').mkdir(exist_ok=True) or TMP/'empty-run', '--out', TMP/'s.png'], 'vqvae.pt and prior.pt missing')
def broken(name, vq_bytes=None, prior_bytes=None, edit_vq=None, edit_prior=None):
    folder = TMP/name
    if folder.exists(): shutil.rmtree(folder)
    shutil.copytree(run_folder(), folder)
    if vq_bytes is not None: (folder/'vqvae.pt').write_bytes(vq_bytes)
    if prior_bytes is not None: (folder/'prior.pt').write_bytes(prior_bytes)
    for file, edit in (('vqvae.pt', edit_vq), ('prior.pt', edit_prior)):
        if edit: state = torch.load(folder/file, weights_only=True); edit(state); torch.save(state, folder/file)
    return ['sample', '--run', folder, '--out', TMP/'s.png']
cli('sample: junk vqvae.pt', lambda: broken('junk', vq_bytes=b'\0' * 10), 'is not a readable vqvae_nb checkpoint')
cli('sample: empty prior.pt', lambda: broken('emptyprior', prior_bytes=b''), 'prior')
cli('sample: pickle that runs code', lambda: broken('pickle', vq_bytes=b"cos\nsystem\n(S'echo pwned'\ntR."), 'is not a readable vqvae_nb checkpoint')
cli('sample: missing weights', lambda: broken('missing', edit_vq=lambda s: s['model_state'].pop('decoder.0.weight', None) or s['model_state'].popitem()), 'does not hold the weights')
cli('sample: wrong shapes', lambda: broken('shapes', edit_vq=lambda s: s['model_state'].update({k: torch.zeros(3) for k in list(s['model_state'])[:1]})), 'does not hold the weights')
cli('sample: NaN weights', lambda: broken('nan', edit_vq=lambda s: [t.fill_(float('nan')) for t in s['model_state'].values() if t.is_floating_point()]), 'non-finite')
cli('sample: NaN prior weights', lambda: broken('nanprior', edit_prior=lambda s: [t.fill_(float('nan')) for t in s['state'].values() if t.is_floating_point()]), 'non-finite')
cli('sample: prior with missing keys', lambda: broken('priorkeys', edit_prior=lambda s: s['state'].popitem()), 'prior')
cli('sample: mixed run ids', lambda: broken('mixed', edit_prior=lambda s: s.update(run_id='someone-else')), 'come from different runs')
def bad_json():
    argv = broken('badjson'); (TMP/'badjson'/'metrics.json').write_text('{'); return argv
cli('sample: metrics not JSON', bad_json, 'is not readable JSON')
def other_k_prior():
    other = quick_run('k8', '--num-codes', '8')
    argv = broken('k-mismatch'); shutil.copy(other/'prior.pt', TMP/'k-mismatch'/'prior.pt'); return argv
cli('sample: a K=8 prior beside a K=16 VQ-VAE', other_k_prior, 'come from different runs')

# ------------------------------------------------------------------ run folders: resume, retrain, concurrency, kills
def resume_fewer_steps():
    out = quick_run('resumed')
    _run_cli(['train', '--out', out, '--resume', *QUICK[:-1], '--quiet', '--steps', '2'], 'is fewer', 2)
check('train --resume with fewer steps', resume_fewer_steps)
def resume_changed_lr():
    out = TMP/'resumed'
    _run_cli(['train', '--out', out, '--resume', *QUICK, '--lr', '0.01'], 'resume with the same settings', 2)
check('train --resume with another --lr', resume_changed_lr)
def retrain_fails_late():
    out = quick_run('late')
    before = {f: (out/f).read_bytes() for f in ('vqvae.pt', 'prior.pt', 'metrics.json')}
    _run_cli(['train', *idx_pair('two', images(2), np.array([0, 1], dtype=np.uint8)), '--out', out, *QUICK], 'error', 2)
    assert all((out/f).read_bytes() == b for f, b in before.items()), 'the previous run changed'
check('a retrain that fails leaves the previous run whole', retrain_fails_late)

def spawn_train(out, *extra):
    return subprocess.Popen([sys.executable, '-m', 'vqvae_nb.cli', 'train', '--out', str(out), *QUICK, '--steps', '300', *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
def wait_for(path, proc, timeout=300):
    start = time.time()
    while not path.exists():
        if proc.poll() is not None or time.time() - start > timeout: raise AssertionError(f'{path.name} never appeared: {proc.stderr.read()[-500:]}')
        time.sleep(0.2)
def concurrent_runs():
    out = TMP/'concurrent'
    first = spawn_train(out)
    wait_for(TMP/'.concurrent.lock', first)
    second = subprocess.run([sys.executable, '-m', 'vqvae_nb.cli', 'train', '--out', str(out), *QUICK], capture_output=True, text=True)
    first.communicate()
    assert second.returncode == 2 and 'is being written by process' in second.stderr and 'Traceback' not in second.stderr, second.stderr[-500:]
    assert first.returncode == 0, 'the first run failed'
    load_run(out)
check('two trains into one folder: the second is refused', concurrent_runs)
def killed_retrain():
    out = quick_run('killed')
    before = {f: (out/f).read_bytes() for f in ('vqvae.pt', 'prior.pt', 'metrics.json')}
    proc = spawn_train(out, '--prior-steps', '100000')
    start = time.time()   # kill it during the prior stage: once its new vqvae.pt is written aside
    while not any(p.name.startswith('.killed.partial-') and (p/'vqvae.pt').exists() and (p/'vqvae.pt').stat().st_mtime > start
                  for p in TMP.iterdir()):
        assert proc.poll() is None and time.time() - start < 300, 'the retrain ended early'
        time.sleep(0.2)
    time.sleep(1); proc.send_signal(signal.SIGKILL); proc.wait()
    assert all((out/f).read_bytes() == b for f, b in before.items()), 'the previous run changed'
    load_run(out)
    _run_cli(['sample', '--run', out, '--out', TMP/'after-kill.png'], '', 0)
    quick_run('killed')   # the lock of the killed process does not block the next run
check('a retrain killed in the prior stage leaves the previous run whole', killed_retrain)

# ------------------------------------------------------------------ API
api('VQVAEConfig(beta=nan)', lambda: VQVAEConfig(beta=float('nan')), 'VQVAEConfig.beta')
api('VQVAEConfig(eps=nan)', lambda: VQVAEConfig(eps=float('nan')), 'VQVAEConfig.eps')
api('VQVAEConfig(decay=nan)', lambda: VQVAEConfig(decay=float('nan')), 'VQVAEConfig.decay')
api('VQVAEConfig(data_variance=nan)', lambda: VQVAEConfig(data_variance=float('nan')), 'VQVAEConfig.data_variance')
api('VQVAEConfig(num_codes=True)', lambda: VQVAEConfig(num_codes=True), 'must be an integer')
api('VectorQuantizer(num_codes=0)', lambda: VectorQuantizer(0, 4), 'num_codes')
api('VectorQuantizerEMA(decay=nan)', lambda: VectorQuantizerEMA(8, 4, decay=float('nan')), 'decay')
api('GatedPixelCNN(num_codes=0)', lambda: GatedPixelCNN(num_codes=0), 'num_codes')
api('GatedPixelCNN(hidden=0)', lambda: GatedPixelCNN(num_codes=8, hidden=0), 'hidden')
api('GatedPixelCNN(num_classes=0)', lambda: GatedPixelCNN(num_codes=8, num_classes=0), 'num_classes')
api('GatedPixelCNN(dropout=nan)', lambda: GatedPixelCNN(num_codes=8, dropout=float('nan')), 'dropout')
api('encode NaN images', lambda: VQVAE().encode(torch.full((2, 1, 28, 28), float('nan'))), 'NaN')
api('quantize inf latents', lambda: VectorQuantizer(8, 4).quantize(torch.full((2, 4, 3, 3), float('inf'))), 'NaN or inf')
api('empty training batch', lambda: VectorQuantizerEMA(8, 4)(torch.zeros(0, 4, 3, 3)), 'needs at least one latent')
def nan_batch_keeps_codebook():
    vq = VectorQuantizerEMA(8, 4); vq(torch.randn(4, 4, 3, 3)); before = vq.embedding.clone()
    vq(torch.full((4, 4, 3, 3), float('nan')))
    assert torch.isfinite(vq.embedding).all() and torch.equal(before, vq.embedding)
check('a NaN batch leaves the EMA codebook finite', nan_batch_keeps_codebook)
api('fit_vqvae on pixels in 0-255', lambda: fit_vqvae(VQVAE(hidden=8, res_hidden=4, num_codes=8, code_dim=4), torch.rand(16, 1, 28, 28) * 255, steps=1, batch_size=8, progress=False), '[0, 1]')
api('fit_vqvae steps=0', lambda: fit_vqvae(VQVAE(), torch.rand(8, 1, 28, 28), steps=0), 'steps must be an integer')
api('fit_vqvae lr=nan', lambda: fit_vqvae(VQVAE(), torch.rand(8, 1, 28, 28), lr=float('nan')), 'lr must be a finite number')
api('fit_vqvae resume from nothing', lambda: fit_vqvae(VQVAE(), torch.rand(8, 1, 28, 28), resume=TMP/'none.pt'), 'no checkpoint to resume from')
api('fit_vqvae wrong channels', lambda: fit_vqvae(VQVAE(), torch.rand(8, 3, 28, 28), steps=1), 'in_channels')
def mismatched_prior():
    vq, prior = VQVAE(num_codes=16), GatedPixelCNN(num_codes=8, hidden=8, num_layers=1)
    sample_images(vq, prior, 2)
api('sample_images with a K=8 prior and a K=16 VQ-VAE', mismatched_prior, 'codes')
api('load_checkpoint of a directory', lambda: load_checkpoint(TMP), 'no vqvae_nb checkpoint at')
api('load_prior of a checkpoint', lambda: (save_checkpoint(TMP/'vq.pt', VQVAE(hidden=8, res_hidden=4, num_codes=8, code_dim=4)), load_prior(TMP/'vq.pt', GatedPixelCNN)), 'is not a vqvae_nb prior file')
api('read_idx of a missing file', lambda: read_idx(TMP/'missing.idx'), 'missing.idx', FileNotFoundError)
api('ImageTensorDataset of 3-D images', lambda: ImageTensorDataset(torch.zeros(4, 28, 28)), '(N,C,H,W)')
api('get_dataset unknown', lambda: get_dataset('svhn'), "unknown dataset 'svhn'")
api('check_int on a float', lambda: check_int('n', 2.0), 'must be an integer')

# ------------------------------------------------------------------ folders of pictures and CIFAR-10 batches (01b, 01c)
from PIL import Image
from vqvae_nb.folders import folder_dataset
from vqvae_nb.colour import read_cifar_batch, cifar10_dataset
from vqvae_nb.data import DatasetUnavailableError
def folder(name, files):
    "A folder under TMP holding `files`: {relative path: bytes or a PIL image}."
    top = TMP/'pictures'/name
    for rel, data in files.items():
        (top/rel).parent.mkdir(parents=True, exist_ok=True)
        data.save(top/rel) if isinstance(data, Image.Image) else (top/rel).write_bytes(data)
    top.mkdir(parents=True, exist_ok=True)
    return top
def read(top, **kw): return folder_dataset(top, root=TMP/'data-root', progress=False, **kw)
api('folder: missing', lambda: read(TMP/'no-such-folder'), 'no such folder or picture file', FileNotFoundError)
api('folder: empty', lambda: read(folder('empty', {})), 'holds no picture files')
api('folder: only non-pictures', lambda: read(folder('junk', {'a.jpg': b'text', 'b.png': b'', 'c.txt': b'x'})), 'no readable picture among 2 files')
api('folder: image_size 0', lambda: read(folder('one', {'a.png': Image.new('L', (16, 16))}), image_size=0), 'image_size must be an integer at least 8')
api('folder: only a 1x1 picture', lambda: read(folder('tiny', {'a.png': Image.new('L', (1, 1))})), 'smaller than 8 pixels')
def bomb_png(width, height):
    chunk = lambda kind, data: struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(bytes(width + 1))) + chunk(b'IEND', b'')
api('folder: a decompression bomb alone', lambda: read(folder('bomb', {'bomb.png': bomb_png(20_000, 20_000)})), 'a decompression bomb?')
def bomb_among_pictures():
    ds = read(folder('bomb-and-more', {'bomb.png': bomb_png(20_000, 20_000), 'ok.png': Image.new('RGB', (16, 16))}))
    assert len(ds) == 1 and ds.skipped[0][0] == 'bomb.png', ds.skipped
check('folder: a bomb among pictures is skipped', bomb_among_pictures)
def symlink_loop():
    top = folder('loop', {'cats/a.png': Image.new('L', (16, 16))})
    os.symlink(top, top/'cats'/'up'); os.symlink('self', top/'cats'/'self')
    ds = read(top)
    assert len(ds) == 1 and dict(ds.skipped).get('cats/up/', '').startswith('a link to a folder already read'), ds.skipped
check('folder: symlink loops are reported, not walked', symlink_loop)
def fifo_not_opened():
    top = folder('fifo', {'a.png': Image.new('L', (16, 16))}); os.mkfifo(top/'pipe.png')
    assert len(read(top)) == 1
check('folder: a pipe named .png does not hang', fifo_not_opened)
def many_files():
    top = TMP/'pictures'/'many'; top.mkdir(parents=True)
    for i in range(100_000): (top/f'{i:06d}.png').touch()
    start = time.time()
    _raises(lambda: read(top, max_files=10_000), 'holds more than 10,000 picture files', ValueError)
    print(f'refused in {time.time() - start:.2f} s')
    assert time.time() - start < 10, f'{time.time() - start:.1f} s to refuse'
check('folder: 100,000 files are refused before decoding', many_files)
def memory_refused():
    import vqvae_nb.folders as folders
    top = folder('memory', {'a.png': Image.new('RGB', (16, 16))})
    old = folders.available_memory; folders.available_memory = lambda: 100
    try: _raises(lambda: read(top, cache=False), 'GiB of memory, more than the', ValueError)
    finally: folders.available_memory = old
check('folder: more than the memory is refused before decoding', memory_refused)
api('get_dataset folder without images', lambda: get_dataset('folder'), "needs images='path/to/pictures/'")
(TMP/'batch.pkl').write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")
api('cifar batch that runs code', lambda: read_cifar_batch(TMP/'batch.pkl'), 'refused to load os.system')
api('cifar10 offline, empty root', lambda: cifar10_dataset('test', root=TMP/'empty-root', download=False), "Dataset 'cifar10' is not on disk", DatasetUnavailableError)
# ------------------------------------------------------------------ run folders: a run never touches what is not its own (round three)
from vqvae_nb import runs as R
from vqvae_nb.pipeline import run_training
from vqvae_nb.config import make_config
SANDBOX = TMP/'sandbox'   # the current and home folders of the cases that name them: a failure there moves only test files

@contextlib.contextmanager
def in_sandbox():
    "Run with the current folder SANDBOX/cwd and the home folder SANDBOX/home, each holding a user's file."
    for d in ('cwd', 'home'): (SANDBOX/d).mkdir(parents=True, exist_ok=True); (SANDBOX/d/'notes.txt').write_text('mine')
    here, home = os.getcwd(), os.environ.get('HOME')
    os.chdir(SANDBOX/'cwd'); os.environ['HOME'] = str(SANDBOX/'home')
    try: yield
    finally:
        os.chdir(here)
        if home is None: os.environ.pop('HOME', None)
        else: os.environ['HOME'] = home

def _sandbox_state():
    return sorted(str(p.relative_to(TMP)) for p in TMP.rglob('*') if p.name.endswith('.lock') or '.partial-' in p.name or '.previous' in p.name)

def refused_before_work(name, out, expect, extra=()):
    "`train --out OUT` refused at once with `expect`, the user's files untouched, no lock or staging folder left anywhere."
    def case():
        with in_sandbox():
            before, start = _sandbox_state(), time.time()
            _run_cli(['train', '--out', out() if callable(out) else out, *QUICK, *extra], expect, 2)
            assert time.time() - start < 20, f'refused only after {time.time() - start:.0f} s: after work'
            assert _sandbox_state() == before, f'left behind: {set(_sandbox_state()) - set(before)}'
            assert all((SANDBOX/d/'notes.txt').read_text() == 'mine' for d in ('cwd', 'home')), "the user's files changed"
    check(f'train --out {name}: refused before any work', case)

def user_folder():
    d = SANDBOX/'cwd'/'userdir'; d.mkdir(parents=True, exist_ok=True); (d/'thesis.tex').write_text('mine'); return 'userdir'
def data_folder():
    d = SANDBOX/'cwd'/'data'; d.mkdir(parents=True, exist_ok=True); write_idx(d/'img.idx', images(40)); return d
def linked_run():
    link = SANDBOX/'cwd'/'link-to-run'
    if not link.is_symlink(): link.symlink_to(run_folder())
    return link
refused_before_work('<a folder of the user\'s files>', user_folder, 'is not a vqvae_nb run folder')
refused_before_work('.', '.', 'is the current folder')
refused_before_work('..', '..', 'is a folder above')
refused_before_work('~', '~', 'is your home folder')
refused_before_work('/', '/', 'is the root of the file system')
refused_before_work('"   "', '   ', 'out is empty')
refused_before_work('<a symlink to a run>', linked_run, 'is a symbolic link to')
refused_before_work('<the folder of --images>', data_folder, 'is the folder of the data',
                    extra=['--dataset', 'idx', '--images', str(SANDBOX/'cwd'/'data'/'img.idx')])
def nested_data():
    d = SANDBOX/'cwd'/'d1'/'d2'; d.mkdir(parents=True, exist_ok=True); write_idx(d/'img.idx', images(40)); return str(SANDBOX/'cwd'/'d1')
refused_before_work('<a folder above --images>', nested_data, 'holds the data',
                    extra=['--dataset', 'idx', '--images', str(SANDBOX/'cwd'/'d1'/'d2'/'img.idx')])
refused_before_work('<a data file>', lambda: str(data_folder()/'img.idx'), 'is a file')
api("run_training(config, '')", lambda: run_training(make_config(None, dataset='digits', steps=2), ''), 'out is empty')
api("check_out_folder(3)", lambda: R.check_out_folder(3), 'out must be a folder path')
def cli_spells_out():
    try: R.check_out_folder('.')
    except R.ArgumentError as e: assert e.spelled(lambda a: '--' + a).startswith("--out '.' is"), e.spelled(lambda a: '--' + a)
check('check_out_folder names out, spelled --out by the command line', cli_spells_out)

def retrains_keep_every_run():
    out = TMP/'kept'
    ids = []
    for i in range(3):
        assert main(['train', '--out', str(out), *QUICK]) == 0
        ids.append(load_run(out)['run_id'])
    earlier = R.previous_runs(out)
    assert [p.name for p in earlier][:1] == ['kept.previous'] and len(earlier) == 2, [p.name for p in earlier]
    assert [load_run(p)['run_id'] for p in earlier] == ids[1::-1], 'the earlier runs are not both kept, newest first'
    assert earlier[1].name.startswith('kept.previous-') and ids[0] in earlier[1].name, earlier[1].name
check('three trains into one folder keep both earlier runs, named so', retrains_keep_every_run)
def publish_keep_previous():
    out = TMP/'pruned'
    for rid in ('p1', 'p2', 'p3', 'p4'):
        s = R.staging_folder(out, rid); done = R.publish(s, out, keep_previous=2)
    assert [R.run_id_of(p) for p in R.previous_runs(out)] == ['p3', 'p2'] and len(done.removed) == 1, R.previous_runs(out)
check('publish(keep_previous=2) deletes only older run folders', publish_keep_previous)
def publish_over_user_folder():
    out = TMP/'users-own'; out.mkdir(exist_ok=True); (out/'thesis.tex').write_text('mine')
    _raises(lambda: R.publish(R.staging_folder(out), out), 'is not a vqvae_nb run folder', ValueError)
    assert (out/'thesis.tex').read_text() == 'mine' and not (TMP/'users-own.previous').exists()
check('publish over a folder of the user\'s files is refused, nothing moved', publish_over_user_folder)
def legacy_run_is_replaced():
    out = TMP/'legacy'
    if out.exists(): shutil.rmtree(out)
    shutil.copytree(run_folder(), out); (out/'run.json').unlink()   # what the previous version wrote: no marker
    assert R.is_run_folder(out)
    R.publish(R.staging_folder(out), out)
    assert (TMP/'legacy.previous'/'vqvae.pt').is_file()
check('a run folder of the previous version (no marker) is a run folder', legacy_run_is_replaced)

def killed_run_leaves_a_resumable_partial():
    out = TMP/'resumable'
    proc = spawn_train(out, '--prior-steps', '100000')
    start = time.time()
    while R.find_partial(out) is None:
        assert proc.poll() is None and time.time() - start < 300, 'the run ended early'
        time.sleep(0.2)
    partial = R.find_partial(out)
    time.sleep(0.5); proc.send_signal(signal.SIGKILL); proc.wait()
    assert R.find_partial(out) == partial and R.read_marker(partial)['run_id'], 'no marked partial folder with a checkpoint'
    byhand = TMP/'.resumable.partial-byhand'; byhand.mkdir(exist_ok=True)
    assert R.clean_partials(out) == [partial] and not partial.exists() and byhand.exists(), 'clean_partials touched the wrong folders'
check('a killed run leaves a marked partial folder: find_partial finds it, clean_partials removes only it', killed_run_leaves_a_resumable_partial)

def tiny_run(folder, run_id):
    "A run folder written as the pipeline writes one, with tiny untrained models."
    folder.mkdir(parents=True, exist_ok=True); R.mark_run_folder(folder, run_id)
    torch.manual_seed(0); save_checkpoint(folder/'vqvae.pt', VQVAE(hidden=8, res_hidden=4, num_codes=8, code_dim=4))
    sha = R.stamp_checkpoint(folder/'vqvae.pt', run_id)
    kwargs = dict(num_codes=8, hidden=8, num_layers=2, num_classes=10)
    save_prior(folder/'prior.pt', GatedPixelCNN(**kwargs), (7, 7), run_id=run_id, vqvae_sha256=sha)
    (folder/'metrics.json').write_text(json.dumps({'run_id': run_id}))
    return folder
def concurrent_publish_and_load():
    import threading
    sources = {rid: tiny_run(TMP/f'tiny-{rid}', rid) for rid in ('ta', 'tb')}
    live, stop, count, seen = TMP/'live', threading.Event(), [0], set()
    def republish():
        while not stop.is_set():
            with R.run_lock(live):
                s = R.staging_folder(live)
                for f in R.RUN_FILE_NAMES: shutil.copy(sources[('ta', 'tb')[count[0] % 2]]/f, s/f)
                R.publish(s, live, keep_previous=1)
            count[0] += 1
    writer = threading.Thread(target=republish, daemon=True); writer.start()
    try:
        while not R.is_run_folder(live): time.sleep(0.01)
        for i in range(300):
            r = load_run(live) if i % 10 == 0 else None   # the whole load now and then, the files (the part that races) each time
            files = R.read_run_files(live)
            ids = {json.loads(files['run.json'])['run_id'], json.loads(files['metrics.json'])['run_id'],
                   torch.load(io.BytesIO(files['prior.pt']), weights_only=True)['run_id'], torch.load(io.BytesIO(files['vqvae.pt']), weights_only=True)['run_id']}
            assert len(ids) == 1, f'read {i} mixed runs {ids}'
            seen |= ids
    finally: stop.set(); writer.join()
    assert seen == {'ta', 'tb'} and count[0] > 5, (seen, count[0])
check('load_run while runs are published over it in a loop: always one whole run', concurrent_publish_and_load)

# tampered files: one clear line naming the file and the field
for name, kw, expect in [
    ('prior.pt without kwargs', dict(edit_prior=lambda s: s.pop('kwargs')), "prior.pt: field 'kwargs' is missing"),
    ('prior.pt without shape', dict(edit_prior=lambda s: s.pop('shape')), "prior.pt: field 'shape' is missing"),
    ('vqvae.pt without config', dict(edit_vq=lambda s: s.pop('config')), "vqvae.pt: field 'config' is missing"),
    ('vqvae.pt without model_state', dict(edit_vq=lambda s: s.pop('model_state')), "vqvae.pt: field 'model_state' is missing"),
    ('prior kind 3', dict(edit_prior=lambda s: s.update(kind=3)), "prior.pt: field 'kind' must be one of"),
    ('prior kind unknown', dict(edit_prior=lambda s: s.update(kind='vqgan')), "prior.pt: field 'kind' must be one of"),
    ('prior run_id 7', dict(edit_prior=lambda s: s.update(run_id=7)), "prior.pt: field 'run_id' must be a string, got 7"),
    ('vqvae run_id list', dict(edit_vq=lambda s: s.update(run_id=['x'])), "vqvae.pt: field 'run_id' must be a string, got a list"),
    ('prior shape ab', dict(edit_prior=lambda s: s.update(shape='ab')), "prior.pt: field 'shape' must be the code-map shape, two positive integers (h, w), got 'ab'"),
    ('prior shape 8x8', dict(edit_prior=lambda s: s.update(shape=[8, 8])), "prior.pt: field 'shape' is (8, 8), but the VQ-VAE's code maps are (7, 7)"),
    ('prior shape 400x400', dict(edit_prior=lambda s: s.update(shape=[400, 400])), "prior.pt: field 'shape' is (400, 400), but the VQ-VAE's code maps are (7, 7)"),
    ('prior kwargs num_codes text', dict(edit_prior=lambda s: s['kwargs'].update(num_codes='16')), "prior.pt: field 'num_codes' must be a positive integer, got '16'"),
    ('prior kwargs huge', dict(edit_prior=lambda s: s['kwargs'].update(hidden=10**6)), 'does not hold the weights its constructor arguments describe'),
    ('vqvae config huge image', dict(edit_vq=lambda s: s['config'].update(image_size=10**6)), 'vqvae.pt'),
    ('vqvae config text', dict(edit_vq=lambda s: s['config'].update(hidden='ab')), "vqvae.pt: field 'config' is not a valid configuration"),
    ('vqvae a list', dict(vq_bytes=(lambda b: (torch.save([1, 2], b), b.getvalue())[1])(io.BytesIO())), 'vqvae.pt: its contents are a list, not a vqvae_nb checkpoint')]:
    cli(f'sample: {name}', lambda kw=kw, name=name: broken(name.replace(' ', '_'), **kw), expect)
for name, text, expect in [('null', 'null', 'its contents are None, not a JSON object'), ('a list', '[1, 2]', 'its contents are a list, not a JSON object'),
                           ('a string', '"run"', "its contents are 'run', not a JSON object"), ('a number', '3', 'its contents are 3, not a JSON object'),
                           ('run_id 3', '{"run_id": 3}', "metrics.json: field 'run_id' must be a string, got 3"),
                           ('deep nesting', '[' * 100000 + ']' * 100000, 'is not readable JSON')]:
    def metrics_edit(name=name, text=text):
        argv = broken(f"metrics-{name.replace(' ', '_')}"); (TMP/f"metrics-{name.replace(' ', '_')}"/'metrics.json').write_text(text); return argv
    cli(f'sample: metrics.json holding {name}', metrics_edit, expect)
def marker_edit():
    argv = broken('marker-edit'); (TMP/'marker-edit'/'run.json').write_text('{"format": "vqvae_nb.run/1", "run_id": 5}'); return argv
cli('sample: run.json with a run_id of 5', marker_edit, "run.json: field 'run_id' must be a string, got 5")

# sampling bounded: nothing allocates for a request it cannot hold
cli('sample --n 1000000000', lambda: ['sample', '--run', run_folder(), '--out', TMP/'s.png', '--n', '1000000000'], 'image viewers refuse larger ones')
from vqvae_nb.runs import write_samples, sample_run, save_grid
api('write_samples: a grid of a billion', lambda: write_samples(run_folder(), TMP/'huge.png', 10**9), 'image viewers refuse larger ones')
api('write_samples: an array the disk cannot hold', lambda: write_samples(run_folder(), TMP/'huge.npy', 10**13), 'GiB free')
api('write_samples: a billion PNG files', lambda: write_samples(run_folder(), TMP/'huge-folder', 10**9), 'free')
api('write_samples: a .jpg', lambda: write_samples(run_folder(), TMP/'x.jpg', 4), 'out must name a .png file (one grid), a .npy file')
def write_samples_forms():
    r = load_run(run_folder())
    images, _ = sample_run(r, n=10, seed=3, batch_size=4)
    arr = np.load(write_samples(r, TMP/'ten.npy', 10, seed=3, batch_size=4))
    assert arr.shape == (10, 1, 28, 28) and arr.dtype == np.uint8
    assert np.abs(arr.astype(int) - (images.numpy() * 255).round().astype(int)).max() <= 1, 'not sample_run\'s images'
    assert len(list(write_samples(r, TMP/'ten', 10, seed=3, batch_size=4).iterdir())) == 10
    write_samples(r, TMP/'ten.png', 10, seed=3, batch_size=4)
check('write_samples writes sample_run\'s images as an array, a folder or a grid', write_samples_forms)
api('save_grid of an empty batch', lambda: save_grid(torch.zeros(0, 1, 28, 28), TMP/'none.png'), 'images is an empty batch')

# the API takes what a user would pass
def encode_what_users_pass():
    m = VQVAE(hidden=8, res_hidden=4, num_codes=8, code_dim=4)
    px = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8)
    ref = m.encode(px.float() / 255)
    for x in (px, px.long(), px.int(), px.double() / 255, (px.float() / 255).half()): assert torch.equal(m.encode(x), ref), x.dtype
    assert torch.equal(m.encode(px > 127), m.encode((px > 127).float()))
    assert m.reconstruct(px).shape == (2, 1, 28, 28)
check('VQVAE.encode of uint8, int64, int32, float64, float16 and bool images', encode_what_users_pass)
api('VQVAE.encode(x * 255)', lambda: VQVAE().encode(torch.rand(2, 1, 28, 28) * 255), 'divide 0..255 pixels by 255')
api('VQVAE.reconstruct of [-1, 1] images', lambda: VQVAE().reconstruct(torch.rand(2, 1, 28, 28) * 2 - 1), 'map [-1, 1] pixels with (x + 1) / 2')
api('VQVAE.encode of 16-bit integer pixels', lambda: VQVAE().encode(torch.full((2, 1, 28, 28), 4000)), 'integer pixels must lie in 0..255')
for dev in ('cuda', 'mps', 'meta'):
    if dev == 'cuda' and torch.cuda.is_available() or dev == 'mps' and torch.backends.mps.is_available(): continue
    api(f"load_run(device='{dev}')", lambda dev=dev: load_run(run_folder(), device=dev), 'is not available on this machine')
    api(f"sample_run(device='{dev}')", lambda dev=dev: sample_run(run_folder(), n=2, device=dev), 'is not available on this machine')
api('sample_run(label=True)', lambda: sample_run(run_folder(), n=2, label=True), 'label must be a class number (an integer), got True')
api('sample_run(label=2.5)', lambda: sample_run(run_folder(), n=2, label=2.5), 'label must be a class number (an integer), got 2.5')
def numpy_and_tensor_labels():
    r = load_run(run_folder())
    for label in (np.int64(3), torch.tensor(3), 3): assert sample_run(r, n=2, label=label)[1].tolist() == [3, 3]
check('sample_run(label=np.int64(3) or torch.tensor(3))', numpy_and_tensor_labels)

# ------------------------------------------------------------------ round three: signals, --resume checks, sweeps, dtypes, splits, cost
# every name starts 'round three: ' (python tests/hostile_cases.py -k 'round three')
from vqvae_nb import plan as P
from vqvae_nb.training import read_checkpoint

def _cli_out(argv):
    "(exit status, stdout, stderr) of a command run in this process."
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: code = main([str(a) for a in argv])
        except SystemExit as e: code = e.code
    assert 'Traceback' not in err.getvalue(), f'traceback:\n{err.getvalue()[-800:]}'
    return code, out.getvalue(), err.getvalue()

def _files(out): return {f: (out/f).read_bytes() for f in ('run.json', 'vqvae.pt', 'prior.pt', 'metrics.json')}

def spawn_loud(out, *extra):
    "`train` in a subprocess as spawn_train, with progress bars: a thread reads its stderr into `proc.err`, to tell how far it has trained."
    import threading
    proc = subprocess.Popen([sys.executable, '-m', 'vqvae_nb.cli', 'train', '--out', str(out), *(a for a in QUICK if a != '--quiet'), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    chunks = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(proc.stderr.fileno(), 4096), b'')), daemon=True)
    reader.start()
    proc.err = lambda: b''.join(chunks).decode(errors='replace')
    proc.finish = lambda timeout=120: (proc.wait(timeout), reader.join(10), proc.err())[-1]
    return proc

def vqvae_steps_done(text):
    "The last step count of the VQ-VAE's progress bar in `text` (0 before it shows)."
    import re
    done = re.findall(r'fit_vqvae:\s*\d+%\|[^|]*\|\s*(\d+)/', text)
    return int(done[-1]) if done else 0

def interrupted_then_resumed(sig):
    def case():
        out = TMP/f'signal-{sig.name}'
        proc = spawn_loud(out, '--steps', '800')
        start = time.time()
        while vqvae_steps_done(proc.err()) < 20:   # the VQ-VAE trains: its progress bar has moved
            assert proc.poll() is None and time.time() - start < 300, f'the run ended early or never trained: {proc.err()[-400:]}'
            time.sleep(0.05)
        proc.send_signal(sig)
        err = proc.finish()
        assert proc.returncode == 130, f'{sig.name}: exit status {proc.returncode}, expected 130: {err[-400:]}'
        assert 'Traceback' not in err and 'vqvae_nb train: error: interrupted' in err and 'run again with --resume' in err, err[-400:]
        partial = R.find_partial(out)
        assert partial is not None and partial.name in err, f'no partial folder with a checkpoint, or not the one named: {err[-300:]}'
        step, run_id = read_checkpoint(partial/'vqvae.pt')['step'], R.read_marker(partial)['run_id']
        assert 0 < step < 800 and not out.exists(), (step, out.exists())
        # a resume with another --num-codes is refused by option name, and the partial folder stays
        code, _, err = _cli_out(['train', '--out', out, '--resume', *QUICK, '--steps', '800', '--num-codes', '8'])
        assert code == 2 and '--num-codes 16 (now 8)' in err and 'num_codes' not in err, (code, err[-400:])
        assert R.find_partial(out) == partial and (partial/'vqvae.pt').is_file(), 'a refused resume removed the partial run'
        code, log, err = _cli_out(['train', '--out', out, '--resume', *QUICK, '--steps', '800'])
        assert code == 0, err[-400:]
        assert f'resuming the interrupted run in {partial.name} (VQ-VAE step {step})' in log, log[:600]
        metrics = json.loads((out/'metrics.json').read_text())
        assert metrics['resumed'] is True and metrics['run_id'] == run_id, (metrics['resumed'], metrics['run_id'], run_id)
        assert read_checkpoint(out/'vqvae.pt')['step'] == 800 and not R.partial_folders(out)
        load_run(out)
    return case
check('round three: SIGINT during training exits 130, keeps a partial run, --resume finishes it', interrupted_then_resumed(signal.SIGINT))
check('round three: SIGTERM during training exits 130, keeps a partial run, --resume finishes it', interrupted_then_resumed(signal.SIGTERM))

def resume_on_other_data():
    out = quick_run('resume-digits')
    before = _files(out)
    code, _, err = _cli_out(['train', '--out', out, '--resume', *QUICK, *idx_pair('resume-other', images(60), np.arange(60, dtype=np.uint8) % 10)])
    assert code == 2 and "--dataset 'digits' (now 'idx')" in err and '--images None (now' in err, (code, err[-400:])
    assert _files(out) == before and not R.partial_folders(out), 'the refused resume changed the run'
check('round three: --resume of a digits run with --images of other pictures is refused, naming the data options', resume_on_other_data)
def resume_on_rewritten_file():
    pair = [str(a) for a in idx_pair('rewritten', images(80), np.arange(80, dtype=np.uint8) % 10)]
    out = quick_run('resume-rewritten', *pair)
    before = _files(out)
    write_idx(pair[3], images(80))   # the same file name, other pictures
    code, _, err = _cli_out(['train', '--out', out, '--resume', *QUICK, *pair])
    assert code == 2 and 'was trained on other images' in err and 'resume it on the same data' in err, (code, err[-400:])
    assert _files(out) == before and not R.partial_folders(out), 'the refused resume changed the run'
check('round three: --resume after the --images file was rewritten is refused (the data fingerprint)', resume_on_rewritten_file)

def resume_with_foreign_prior():
    out, other = quick_run('own-a'), quick_run('own-b')
    shutil.copy(other/'prior.pt', out/'prior.pt')
    before = _files(out)
    code, _, err = _cli_out(['train', '--out', out, '--resume', *QUICK])
    assert code == 2 and 'come from different runs' in err, (code, err[-400:])
    assert _files(out) == before, 'the refused resume re-stamped or rewrote the run'
    assert not R.partial_folders(out) and not Path(f'{out}.previous').exists(), 'the refused resume left a staging folder or moved the run'
check('round three: --resume of a run whose prior.pt is another run\'s is refused, nothing re-stamped', resume_with_foreign_prior)

def resume_other_num_codes():
    out = quick_run('resume-k8', '--num-codes', '8')
    before = _files(out)
    code, _, err = _cli_out(['train', '--out', out, '--resume', *QUICK, '--num-codes', '12'])
    assert code == 2 and '--num-codes 8 (now 12)' in err, (code, err[-400:])
    assert 'num_codes' not in err and '.partial' not in err and '/.' not in err, f'a library name or a hidden folder in: {err}'
    assert _files(out) == before and not R.partial_folders(out)
check('round three: --resume with another --num-codes is refused, naming --num-codes', resume_other_num_codes)

SWEEP_QUICK = ['--steps', '4', '--batch-size', '8', '--hidden', '8', '--quiet']
def sweep_close_values_and_subsets():
    out = TMP/'sweep-close'
    code, log, err = _cli_out(['sweep', '--vary', 'lr=0.001,0.0010000001', '--out', out, *SWEEP_QUICK])
    assert code == 0, err[-400:]
    names = [p['name'] for p in json.loads((out/'sweep.json').read_text())['points']]
    assert names == ['lr=0.001', 'lr=0.0010000001'], names
    assert len(list((out/'points').iterdir())) == 2 and log.count(': trained;') == 2, log
    code, log, err = _cli_out(['sweep', '--vary', 'lr=0.001,0.0010000001', '--out', out, *SWEEP_QUICK])
    assert code == 0 and log.count(': done before;') == 2, log   # the same setting: read back
    code, log, err = _cli_out(['sweep', '--vary', 'lr=0.001,0.0010000001', '--out', out, *SWEEP_QUICK, '--subset', '200'])
    assert code == 0 and log.count(': trained;') == 2 and 'done before' not in log, log   # other images: trained again
    assert len(list((out/'points').iterdir())) == 4
    trained_on = sorted(json.loads((d/'point.json').read_text())['num_train'] for d in (out/'points').iterdir())
    assert trained_on == [200, 200, 1500, 1500], trained_on
    assert json.loads((out/'sweep.json').read_text())['setting']['options']['subset'] == 200
check('round three: sweep lr=0.001,0.0010000001 trains two points; a rerun with --subset does not reuse them', sweep_close_values_and_subsets)
cli('round three: sweep --vary held-out on digits (a factor that changes nothing)', ['sweep', '--vary', 'held-out=0.1,0.2', '--out', TMP/'never-sweep', *SWEEP_QUICK],
    'train the same model on the same images: a factor that does not change the run cannot be swept; leave it out of --vary')

def refused_fast(name, argv, expect):
    "`train` refused before training: quickly, with `expect`, and no run, staging or lock folder left."
    def case():
        out = TMP/f'refused-{name}'
        start = time.time()
        code, _, err = _cli_out(['train', '--out', out, *argv])
        assert code == 2 and expect in err, (code, err[-400:])
        assert time.time() - start < 60, f'refused only after {time.time() - start:.0f} s'
        assert not out.exists() and not R.partial_folders(out), 'a run folder or a staging folder was left'
    return case
check('round three: train --pictures codebook_tsne --num-codes 2 is refused before training',
      refused_fast('tsne', [*QUICK, '--pictures', 'codebook_tsne', '--num-codes', '2'], '--pictures codebook_tsne places the codes with t-SNE, which needs at least 4; --num-codes is 2'))
check('round three: train --prior-lr 1e6 (checked prior) is refused, nothing published',
      refused_fast('prior-lr', [*(a for a in QUICK if a != '--no-check-prior'), '--prior-lr', '1e6'],
                   "the prior's training failed: it scores"))
def prior_lr_words():
    code, _, err = _cli_out(['train', '--out', TMP/'refused-prior-lr2', *(a for a in QUICK if a != '--no-check-prior'), '--prior-lr', '1e6'])
    assert code == 2 and "worse than the" in err and "of the codes' frequencies alone" in err and 'with a lower --prior-lr' in err and '--prior-steps' in err, err
    assert 'prior.fit' not in err, err
check('round three: the diverged prior\'s message names --prior-lr and --prior-steps', prior_lr_words)

def prior_note_words():
    code, out, err = _cli_out(['train', '--out', TMP/'noted-prior', *QUICK, '--prior-lr', '1e6'])
    note = [l for l in out.splitlines() if l.startswith("note: the prior's training failed")]
    assert code == 0 and note, (code, out[-600:], err[-300:])
    assert '--prior-steps' in note[0] and '--prior-lr' in note[0] and 'prior.fit' not in note[0], note
check("round three: with --no-check-prior the failed prior's note names --prior-lr and --prior-steps", prior_note_words)

def num_codes_100000_memory():
    old = P.device_memory
    try:
        P.device_memory = lambda device: 8 * 2**30   # a machine of 8 GiB: the prior's logits alone need more
        refused_fast('k100000', [*QUICK, '--num-codes', '100000'], 'GiB to train but cpu has 8.0 GiB')()
        P.device_memory = lambda device: 64 * 2**30
        config = make_config(num_codes=100000, steps=4, prior_steps=2, prior_hidden=8, prior_layers=1, batch_size=8, hidden=8)
        stage = P.data_stage(config, log=None)
        assert stage.model.num_codes == 100000, stage.model.num_codes
        logits = 256 * 100000 * 7 * 7 * 4 * 3   # the prior's output over 7×7 maps, in training and evaluation
        small = P.data_stage(make_config(num_codes=16, steps=4, prior_steps=2, prior_hidden=8, prior_layers=1, batch_size=8, hidden=8), log=None)
        assert stage.cost.bytes - small.cost.bytes >= logits, (stage.cost.bytes, small.cost.bytes, logits)
    finally: P.device_memory = old
check('round three: train --num-codes 100000 is sized with the prior\'s logits (refused on 8 GiB, planned on 64 GiB)', num_codes_100000_memory)

def fit_float64_and_float16():
    torch.manual_seed(1); x = torch.rand(16, 1, 28, 28)
    def fit(images):
        torch.manual_seed(0); m = VQVAE(hidden=8, res_hidden=4, num_codes=8, code_dim=4)
        return fit_vqvae(m, images, images[:8], steps=3, batch_size=8, progress=False, eval_every=3)
    ref = fit(x)
    for dt in (torch.float64, torch.float16):
        h = fit(x.to(dt))
        assert len(h['loss']) == 3 and all(math.isfinite(v) for v in h['loss'] + h['valid_mse']), (dt, h['loss'])
        if dt == torch.float64: assert h['loss'] == ref['loss'] and h['valid_mse'] == ref['valid_mse'], 'float64 images trained otherwise than float32'
check('round three: fit_vqvae on float64 and float16 image tensors trains as on float32', fit_float64_and_float16)

def idx_float64():
    from vqvae_nb.datasets import get_dataset
    unit = write_idx(TMP/'f64-img.idx', rng.random((60, 28, 28)).astype('>f8'), code=0x0E)
    levels = write_idx(TMP/'f64-levels.idx', rng.integers(0, 256, (60, 28, 28)).astype('>f8'), code=0x0E)
    lab = write_idx(TMP/'f64-lab.idx', np.arange(60, dtype=np.uint8) % 10)
    assert get_dataset('idx', images=unit, labels=lab).images.dtype == torch.float32
    assert get_dataset('idx', images=levels, labels=lab).images.dtype == torch.uint8
    out = TMP/'f64-run'
    code, _, err = _cli_out(['train', '--dataset', 'idx', '--images', unit, '--labels', lab, '--out', out, *QUICK])
    assert code == 0 and (out/'metrics.json').is_file(), err[-400:]
    frac = write_idx(TMP/'f64-frac.idx', (rng.random((60, 28, 28)) * 255).astype('>f8'), code=0x0E)
    code, _, err = _cli_out(['train', '--dataset', 'idx', '--images', frac, '--labels', lab, '--out', TMP/'never', *QUICK])
    assert code == 2 and 'float64 pixels from' in err and 'float pixels must lie in [0,1]' in err and 'dtype' not in err.lower(), err[-400:]
check('round three: IDX float64 images are converted (float32 or uint8) or refused at the data stage', idx_float64)

for name, n, classes, held, expect in [
    ('300 classes in 600 images, --held-out 0.5', 600, 300, '0.5', 'holding out 0.5 of 600 images leaves'),
    ('10 classes, --held-out 0.999', 600, 10, '0.999', 'holding out 0.999 of 600 images leaves 9 of 10 classes with no training image')]:
    def lost_classes(name=name, n=n, classes=classes, held=held, expect=expect):
        lab = (np.arange(n) % classes).astype('>i4')
        code, _, err = _cli_out(['train', '--dataset', 'idx', '--images', write_idx(TMP/'split-img.idx', images(n)),
                                 '--labels', write_idx(TMP/'split-lab.idx', lab, code=0x0C), '--held-out', held, '--out', TMP/'never', *QUICK])
        assert code == 2 and expect in err and 'classes with no training image' in err, (code, err[-400:])
        assert '(--stratified, every class keeps one) or hold out a smaller --held-out' in err, f'no fix suggested: {err}'
    check(f'round three: a held-out split that takes whole classes from training ({name})', lost_classes)

def big_images():
    pair = idx_pair('big', rng.integers(0, 256, (20, 1024, 1024), dtype=np.uint8), np.arange(20, dtype=np.uint8) % 2)
    images_, labels_ = pair[3], pair[5]
    old = P.device_memory
    try:
        P.device_memory = lambda device: 32 * 2**30
        _raises(lambda: P.data_stage(make_config(dataset='idx', images=images_, labels=labels_), log=None), 'GiB to train but cpu has 32.0 GiB', ValueError)
        lines = []
        stage = P.data_stage(make_config(dataset='idx', images=images_, labels=labels_, hidden=8, batch_size=4), log=lines.append)
        assert lines[0].startswith('data: idx, 18 training / 2 held-out images 1×1024×1024'), lines
        assert any(l.startswith('warning: this run is long; estimated: about ') for l in lines), lines
        assert stage.cost.seconds > P.LONG_RUN, stage.cost
        lines = []
        P.data_stage(make_config(dataset='idx', images=images_, labels=labels_, hidden=8, batch_size=4, steps=2, prior_steps=2,
                                 prior_hidden=8, prior_layers=1, num_samples=4, classifier_steps=2), log=lines.append)
        assert any(l.startswith('estimated: about ') for l in lines), lines
    finally: P.device_memory = old
check('round three: twenty 1024×1024 images: refused for memory, or a long-run warning before training', big_images)

def run(selected, verbose=True):
    "Run the cases, printing each (or only the failures); True when all passed."
    passed, failed = 0, []
    for name, fn in selected:
        start = time.time()
        with contextlib.redirect_stdout(io.StringIO()) if not verbose else contextlib.nullcontext():
            try: fn(); passed += 1; ok = None
            except Exception as e: failed.append(name); ok = f'{type(e).__name__}: {str(e)[:300]}'
        if ok is None and verbose: print(f'ok    {time.time() - start:5.1f} s  {name}', flush=True)
        elif ok is not None: print(f'FAIL  {time.time() - start:5.1f} s  {name}: {ok}', flush=True)
    print(f'\n{len(selected)} hostile cases')
    for name in failed: print(f'  failed: {name}')
    print(f'{passed} passed, {len(failed)} failed')
    return not failed

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('-k', default='', help='run only the cases whose name contains this')
    args = ap.parse_args()
    ok = run([(n, f) for n, f in CASES if args.k in n])
    shutil.rmtree(TMP, ignore_errors=True)
    sys.exit(0 if ok else 1)
