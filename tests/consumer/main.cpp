// A minimal program that uses loom the way an outside project would: it only
// sees <loom/loom.hpp> and the loom::loom target.
#include <loom/loom.hpp>

int main() {
    auto x = loom::Tensor<float>::ones({2, 3}).requires_grad_(true);
    auto y = loom::sum(loom::mul(x, x));
    y.backward();
    return x.grad().data()[0] == 2.0f ? 0 : 1;
}
