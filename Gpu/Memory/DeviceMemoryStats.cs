namespace Sparkle.Gpu.Memory;

/// <summary>A snapshot of one device's pool. Bytes are size-class bytes (what the driver holds), not tensor bytes.</summary>
/// <param name="InUse">Bytes rented by live storages.</param>
/// <param name="Pooled">Bytes in the free lists, ready for reuse.</param>
/// <param name="Reserved">Bytes held from the driver: InUse + Pooled.</param>
/// <param name="PeakInUse">Highest InUse since creation or the last ResetPeaks.</param>
/// <param name="PeakReserved">Highest Reserved since creation or the last ResetPeaks.</param>
/// <param name="DeviceAllocations">Blocks allocated from the driver (steady-state training adds none).</param>
/// <param name="Rents">Storages handed out.</param>
/// <param name="Reuses">Rents served from the free lists.</param>
/// <param name="Reclaims">Blocking GCs run to reclaim unreachable storages (scopes and memory pressure).</param>
/// <param name="Trims">Times the free lists were freed to the driver.</param>
public readonly record struct DeviceMemoryStats(long InUse, long Pooled, long Reserved, long PeakInUse, long PeakReserved,
    long DeviceAllocations, long Rents, long Reuses, long Reclaims, long Trims)
{
    public override string ToString() =>
        $"in use {Mib(InUse)} MiB, pooled {Mib(Pooled)} MiB, reserved {Mib(Reserved)} MiB, peak in use {Mib(PeakInUse)} MiB, " +
        $"peak reserved {Mib(PeakReserved)} MiB, {DeviceAllocations} device allocations, {Reuses}/{Rents} rents reused, {Reclaims} reclaims, {Trims} trims";

    private static string Mib(long b) => (b / 1048576.0).ToString("F1", System.Globalization.CultureInfo.InvariantCulture);
}
