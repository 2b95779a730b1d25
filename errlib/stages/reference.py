"""Published numbers to set beside ours (from ``docs/reference.md``, §1).

Accuracies are fractions in [0, 1]. These are *references*, printed next to
our own results; nothing in errlib reports them as its own results.
"""

# Ilyas et al. 2019, "Adversarial Examples Are Not Bugs, They Are Features", Table 1
ILYAS_CIFAR10 = {"D": 0.953, "D_rand": 0.633, "D_det": 0.437}
WALLACE = {  # Wallace 2019, "Learning from Incorrectly Labeled Data", Distill response 6
    "weak_teacher_train": 0.625, "weak_teacher_test": 0.631,  # CIFAR-10 ResNet-18, 2 epochs
    "weak_teacher_wrong": 18768,  # of 50,000 training images
    "wrong_label_student": 0.497,  # student on the teacher's errors only, clean test
    "mnist_teacher": 0.991,
    "cross_domain_student": 0.9104,  # FMNIST images, MNIST teacher labels, MNIST test
    "cross_domain_student_normalised": 0.945,
    "toy_student_correct": 23, "toy_points": 32,
}
