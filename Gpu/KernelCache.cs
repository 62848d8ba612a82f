using System.Collections.Concurrent;
using System.Reflection;
using ILGPU.Runtime;

namespace Sparkle.Gpu;

/// <summary>
/// Compiles each kernel instantiation once per accelerator, on first use (ILGPU's JIT costs 150-250 ms a kernel
/// on the CPU accelerator), keyed by the closed generic method.
/// </summary>
internal sealed class KernelCache(Accelerator accelerator)
{
    private readonly ConcurrentDictionary<MethodInfo, Delegate> _loaded = new();

    public Action<ILGPU.Index1D, T1, T2> Get<T1, T2>(Action<ILGPU.Index1D, T1, T2> kernel)
        where T1 : struct where T2 : struct =>
        (Action<ILGPU.Index1D, T1, T2>)_loaded.GetOrAdd(kernel.Method, _ => accelerator.LoadAutoGroupedStreamKernel(kernel));

    public Action<ILGPU.Index1D, T1, T2, T3> Get<T1, T2, T3>(Action<ILGPU.Index1D, T1, T2, T3> kernel)
        where T1 : struct where T2 : struct where T3 : struct =>
        (Action<ILGPU.Index1D, T1, T2, T3>)_loaded.GetOrAdd(kernel.Method, _ => accelerator.LoadAutoGroupedStreamKernel(kernel));

    public Action<ILGPU.Index1D, T1, T2, T3, T4> Get<T1, T2, T3, T4>(Action<ILGPU.Index1D, T1, T2, T3, T4> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct =>
        (Action<ILGPU.Index1D, T1, T2, T3, T4>)_loaded.GetOrAdd(kernel.Method, _ => accelerator.LoadAutoGroupedStreamKernel(kernel));

    public Action<ILGPU.Index1D, T1, T2, T3, T4, T5> Get<T1, T2, T3, T4, T5>(Action<ILGPU.Index1D, T1, T2, T3, T4, T5> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct =>
        (Action<ILGPU.Index1D, T1, T2, T3, T4, T5>)_loaded.GetOrAdd(kernel.Method, _ => accelerator.LoadAutoGroupedStreamKernel(kernel));

    public Action<ILGPU.Index1D, T1, T2, T3, T4, T5, T6, T7> Get<T1, T2, T3, T4, T5, T6, T7>(Action<ILGPU.Index1D, T1, T2, T3, T4, T5, T6, T7> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct =>
        (Action<ILGPU.Index1D, T1, T2, T3, T4, T5, T6, T7>)_loaded.GetOrAdd(kernel.Method, _ => accelerator.LoadAutoGroupedStreamKernel(kernel));

    public Action<ILGPU.Index1D, T1, T2, T3, T4, T5, T6> Get<T1, T2, T3, T4, T5, T6>(Action<ILGPU.Index1D, T1, T2, T3, T4, T5, T6> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct =>
        (Action<ILGPU.Index1D, T1, T2, T3, T4, T5, T6>)_loaded.GetOrAdd(kernel.Method, _ => accelerator.LoadAutoGroupedStreamKernel(kernel));

    public Action<ILGPU.Index1D, T1, T2, T3, T4, T5, T6, T7, T8> Get<T1, T2, T3, T4, T5, T6, T7, T8>(Action<ILGPU.Index1D, T1, T2, T3, T4, T5, T6, T7, T8> kernel)
        where T1 : struct where T2 : struct where T3 : struct where T4 : struct where T5 : struct where T6 : struct where T7 : struct where T8 : struct =>
        (Action<ILGPU.Index1D, T1, T2, T3, T4, T5, T6, T7, T8>)_loaded.GetOrAdd(kernel.Method, _ => accelerator.LoadAutoGroupedStreamKernel(kernel));

    public int Count => _loaded.Count;
}
