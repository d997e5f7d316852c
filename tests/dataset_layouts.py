"""Tiny synthetic datasets in the real on-disk layouts of mmpretrain's
dataset classes (their annotation files and folders, a few generated
images), for the dataset configs' tests. Nothing is downloaded."""
import hashlib
import os
import os.path as osp
import pickle

import numpy as np
from PIL import Image


def _image(path, seed, size=(40, 48)):
    rng = np.random.default_rng(seed)
    os.makedirs(osp.dirname(path), exist_ok=True)
    pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def _lines(path, lines):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


def _savemat(path, data):
    from scipy.io import savemat
    os.makedirs(osp.dirname(path), exist_ok=True)
    savemat(path, data)


def _split(n_train, n_test):
    """(index, is_test) of the images: 2 classes, train then test each."""
    return [(i, i % (n_train + n_test) >= n_train)
            for i in range(2 * (n_train + n_test))]


def caltech101(root, n_train=4, n_test=2):
    """101_ObjectCategories/<class>/image_XXXX.jpg + meta/{train,test}.txt
    ("path label")."""
    rows = {False: [], True: []}
    for i, test in _split(n_train, n_test):
        label = i // (n_train + n_test)
        cls = ('accordion', 'airplanes')[label]
        rel = f'{cls}/image_{i:04d}.jpg'
        _image(osp.join(root, '101_ObjectCategories', rel), i)
        rows[test].append(f'{rel} {label}')
    _lines(osp.join(root, 'meta', 'train.txt'), rows[False])
    _lines(osp.join(root, 'meta', 'test.txt'), rows[True])


def dtd(root, n_train=4, n_test=2):
    """images/<class>/<class>_XXXX.jpg + imdb/imdb.mat (images.name /
    .class (1-based) / .set (1 train, 2 val, 3 test))."""
    names, classes, sets = [], [], []
    for i, test in _split(n_train, n_test):
        label = i // (n_train + n_test)
        cls = ('banded', 'blotchy')[label]
        name = f'{cls}/{cls}_{i:04d}.jpg'
        _image(osp.join(root, 'images', name), i)
        names.append(name)
        classes.append(label + 1)
        sets.append(3 if test else 1 + i % 2)
    _savemat(
        osp.join(root, 'imdb', 'imdb.mat'), {
            'images': {
                'name': np.array(names, dtype=object),
                'class': np.array(classes, dtype=np.uint16),
                'set': np.array(sets, dtype=np.uint16)
            }
        })


def fgvc_aircraft(root, n_train=4, n_test=2):
    """data/images/XXXXXXX.jpg + data/images_variant_{trainval,test}.txt
    ("id variant name")."""
    rows = {False: [], True: []}
    for i, test in _split(n_train, n_test):
        variant = ('707-320', 'A340-600')[i // (n_train + n_test)]
        _image(osp.join(root, 'data', 'images', f'{1000000 + i}.jpg'), i)
        rows[test].append(f'{1000000 + i} {variant}')
    _lines(osp.join(root, 'data', 'images_variant_trainval.txt'), rows[False])
    _lines(osp.join(root, 'data', 'images_variant_test.txt'), rows[True])


def stanford_cars(root, n_train=4, n_test=2):
    """car_ims/XXXXXX.jpg + cars_annos.mat (annotations.relative_im_path /
    .class (1-based) / .test)."""
    paths, classes, tests = [], [], []
    for i, test in _split(n_train, n_test):
        rel = f'car_ims/{i + 1:06d}.jpg'
        _image(osp.join(root, rel), i)
        paths.append(rel)
        classes.append(i // (n_train + n_test) + 1)
        tests.append(int(test))
    _savemat(
        osp.join(root, 'cars_annos.mat'), {
            'annotations': {
                'relative_im_path': np.array(paths, dtype=object),
                'class': np.array(classes, dtype=np.uint16),
                'test': np.array(tests, dtype=np.uint16)
            }
        })


def oxford_iiit_pet(root, n_train=4, n_test=2):
    """images/<Breed>_N.jpg + annotations/{trainval,test}.txt ("name
    class-id species breed-id")."""
    rows = {False: [], True: []}
    for i, test in _split(n_train, n_test):
        label = i // (n_train + n_test)
        name = f'{("Abyssinian", "american_bulldog")[label]}_{i}'
        _image(osp.join(root, 'images', f'{name}.jpg'), i)
        rows[test].append(f'{name} {label + 1} {label + 1} 1')
    _lines(osp.join(root, 'annotations', 'trainval.txt'), rows[False])
    _lines(osp.join(root, 'annotations', 'test.txt'), rows[True])


def flowers102(root, n_train=4, n_test=2):
    """jpg/image_XXXXX.jpg + imagelabels.mat (labels, 1-based) + setid.mat
    (trnid / valid / tstid, 1-based image ids)."""
    labels, ids = [], {'trnid': [], 'valid': [], 'tstid': []}
    for i, test in _split(n_train, n_test):
        _image(osp.join(root, 'jpg', f'image_{i + 1:05d}.jpg'), i)
        labels.append(i // (n_train + n_test) + 1)
        ids['tstid' if test else ('trnid', 'valid')[i % 2]].append(i + 1)
    _savemat(
        osp.join(root, 'imagelabels.mat'),
        {'labels': np.array(labels, dtype=np.uint16)})
    _savemat(
        osp.join(root, 'setid.mat'), {
            k: np.array(v, dtype=np.uint16)
            for k, v in ids.items()
        })


def imagenet(root, n_train=4, n_test=2):
    """train/<wnid>/<wnid>_N.JPEG + val/ILSVRC2012_val_N.JPEG +
    meta/{train,val}.txt ("path label")."""
    rows = {False: [], True: []}
    for i, test in _split(n_train, n_test):
        label = i // (n_train + n_test)
        wnid = ('n01440764', 'n01443537')[label]
        rel = (f'ILSVRC2012_val_{i + 1:08d}.JPEG'
               if test else f'{wnid}/{wnid}_{i}.JPEG')
        _image(osp.join(root, 'val' if test else 'train', rel), i)
        rows[test].append(f'{rel} {label}')
    _lines(osp.join(root, 'meta', 'train.txt'), rows[False])
    _lines(osp.join(root, 'meta', 'val.txt'), rows[True])


def cifar(root, base_folder, label_key, n_train=8, n_test=4, classes=100):
    """The pickled python version (``<base_folder>/{train,test,meta}``);
    returns the md5 of each file, which mmpretrain's integrity check
    compares with the real files' (a test's subclass carries these)."""
    folder = osp.join(root, base_folder)
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    md5 = {}
    for split, n in (('train', n_train), ('test', n_test)):
        entry = {
            'data': rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8),
            label_key: [i % 2 for i in range(n)]
        }
        with open(osp.join(folder, split), 'wb') as f:
            pickle.dump(entry, f)
    meta_key = 'fine_label_names' if label_key == 'fine_labels' else \
        'label_names'
    with open(osp.join(folder, 'meta'), 'wb') as f:
        pickle.dump({meta_key: [f'class{i}' for i in range(classes)]}, f)
    for name in ('train', 'test', 'meta'):
        with open(osp.join(folder, name), 'rb') as f:
            md5[name] = hashlib.md5(f.read()).hexdigest()
    return md5


WRITERS = dict(
    caltech101=caltech101,
    dtd=dtd,
    fgvc_aircraft=fgvc_aircraft,
    stanford_cars=stanford_cars,
    oxford_iiit_pet=oxford_iiit_pet,
    flowers102=flowers102,
    imagenet=imagenet)
