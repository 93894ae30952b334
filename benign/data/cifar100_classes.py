"""CIFAR-100's class names and its 20 official superclasses, as in the dataset's ``meta`` file.

The fine->coarse table is known statically (so ``coarse_map`` works before any file is read);
:class:`~benign.data.cifar.CIFAR100DataModule` checks it against the files' ``coarse_labels``.
"""

from __future__ import annotations

#: Fine label names in the official order (``fine_label_names`` of ``cifar-100-python/meta``).
CIFAR100_CLASSES: tuple[str, ...] = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone",
    "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm",
)  # fmt: skip

#: Superclass -> its five fine classes, superclasses in the official ``coarse_label_names`` order.
CIFAR100_SUPERCLASS_MEMBERS: dict[str, tuple[str, ...]] = {
    "aquatic_mammals": ("beaver", "dolphin", "otter", "seal", "whale"),
    "fish": ("aquarium_fish", "flatfish", "ray", "shark", "trout"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
    "food_containers": ("bottle", "bowl", "can", "cup", "plate"),
    "fruit_and_vegetables": ("apple", "mushroom", "orange", "pear", "sweet_pepper"),
    "household_electrical_devices": ("clock", "keyboard", "lamp", "telephone", "television"),
    "household_furniture": ("bed", "chair", "couch", "table", "wardrobe"),
    "insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "large_man-made_outdoor_things": ("bridge", "castle", "house", "road", "skyscraper"),
    "large_natural_outdoor_scenes": ("cloud", "forest", "mountain", "plain", "sea"),
    "large_omnivores_and_herbivores": ("camel", "cattle", "chimpanzee", "elephant", "kangaroo"),
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "non-insect_invertebrates": ("crab", "lobster", "snail", "spider", "worm"),
    "people": ("baby", "boy", "girl", "man", "woman"),
    "reptiles": ("crocodile", "dinosaur", "lizard", "snake", "turtle"),
    "small_mammals": ("hamster", "mouse", "rabbit", "shrew", "squirrel"),
    "trees": ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}

CIFAR100_SUPERCLASSES: tuple[str, ...] = tuple(CIFAR100_SUPERCLASS_MEMBERS)


def _superclass_map() -> list[int]:
    coarse_of = {
        fine: index
        for index, members in enumerate(CIFAR100_SUPERCLASS_MEMBERS.values())
        for fine in members
    }
    return [coarse_of[name] for name in CIFAR100_CLASSES]


def _next_in_superclass() -> dict[int, int]:
    """Each fine class -> the next fine class (by label) of its superclass, circularly."""
    pairs: dict[int, int] = {}
    for members in CIFAR100_SUPERCLASS_MEMBERS.values():
        labels = sorted(CIFAR100_CLASSES.index(name) for name in members)
        for i, label in enumerate(labels):
            pairs[label] = labels[(i + 1) % len(labels)]
    return pairs


#: Fine label -> superclass index (``coarse_map`` preset ``superclasses``).
CIFAR100_SUPERCLASS_MAP: list[int] = _superclass_map()
#: Asymmetric noise partners within each superclass.
CIFAR100_ASYMMETRIC_PAIRS: dict[int, int] = _next_in_superclass()
