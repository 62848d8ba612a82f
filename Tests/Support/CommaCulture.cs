using System.Globalization;

namespace Sparkle.Tests.Support;

/// <summary>Runs a block under a comma-decimal culture (de-DE: "1,5", "∞"), to show that what goes into files does not
/// depend on the user's culture. Where ICU is missing (invariant globalization) a copy of the invariant culture with
/// de-DE's number symbols stands in, so the test still bites.</summary>
internal static class CommaCulture
{
    public static Scope Use()
    {
        CultureInfo culture;
        try { culture = CultureInfo.GetCultureInfo("de-DE"); }
        catch (CultureNotFoundException) { culture = CultureInfo.InvariantCulture; }
        if (culture.NumberFormat.NumberDecimalSeparator != ",")
        {
            var c = (CultureInfo)CultureInfo.InvariantCulture.Clone();
            c.NumberFormat.NumberDecimalSeparator = ",";
            c.NumberFormat.NumberGroupSeparator = ".";
            c.NumberFormat.PositiveInfinitySymbol = "∞";
            c.NumberFormat.NegativeInfinitySymbol = "-∞";
            culture = c;
        }
        var scope = new Scope(CultureInfo.CurrentCulture);
        CultureInfo.CurrentCulture = culture;
        return scope;
    }

    public readonly struct Scope(CultureInfo previous) : IDisposable
    {
        public void Dispose() => CultureInfo.CurrentCulture = previous;
    }
}
