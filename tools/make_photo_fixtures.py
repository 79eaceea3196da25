#!/usr/bin/python3
"""Small photos with known numbers of faces for the predict tests, from scikit-image's sample images (Debian's
python3-skimage; tools/install_deps.sh --tools). Writes tests/data/photos/*.jpg and faces.csv (file, faces):
  astronaut.jpg   Eileen Collins's NASA portrait, 256 px: 1 face
  two_faces.jpg   two crops of that portrait side by side, the second mirrored: 2 faces
  coffee.jpg      a cup of coffee: no face
  chelsea.jpg     a cat: no (human) face
Run: /usr/bin/python3 tools/make_photo_fixtures.py
"""
import os

import numpy as np
from PIL import Image
from skimage import data

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "photos")


def save(name, pixels, size=None):
    img = Image.fromarray(pixels)
    if size:
        img = img.resize(size, Image.BILINEAR)
    img.save(os.path.join(OUT, name), quality=90)


def main():
    os.makedirs(OUT, exist_ok=True)
    astronaut = data.astronaut()
    save("astronaut.jpg", astronaut, (256, 256))
    face = astronaut[0:240, 110:320]  # head and shoulders
    save("two_faces.jpg", np.concatenate([face, face[:, ::-1]], axis=1), (210, 120))
    coffee = data.coffee()
    save("coffee.jpg", coffee, (240, 160))
    save("chelsea.jpg", data.chelsea(), (240, 160))
    with open(os.path.join(OUT, "faces.csv"), "w") as f:
        f.write("file,faces\nastronaut.jpg,1\ntwo_faces.jpg,2\ncoffee.jpg,0\nchelsea.jpg,0\n")
    for n in sorted(os.listdir(OUT)):
        print(n, os.path.getsize(os.path.join(OUT, n)))


if __name__ == "__main__":
    main()
